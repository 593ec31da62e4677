"""The `vllm` backend: in-process vLLM (optional: `pip install pgrpo[vllm]`, imported when the backend
is built). One `generate` call goes to vLLM whole; a failure becomes per-item errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgrpo.llm.base import BACKENDS, BackendError, ChatBackend, ChatRequest, ChatResult


@BACKENDS.register("vllm")
class VLLMBackend(ChatBackend):
    """A model served in-process by vLLM. Options go to `vllm.LLM` (tensor_parallel_size, ...)."""

    name = "vllm"
    chunk_size = 512  # vLLM batches internally; large chunks keep the GPU busy

    def __init__(self, model: str, *, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 trust_remote_code: bool = False) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise BackendError("the vllm backend needs vLLM: pip install pgrpo[vllm] (GPU machines), "
                               f"or use --backend hf ({exc})") from None
        self.model = str(model)
        self._sampling_params = vllm.SamplingParams
        kwargs: dict[str, Any] = {"dtype": dtype, "tensor_parallel_size": tensor_parallel_size,
                                  "gpu_memory_utilization": gpu_memory_utilization,
                                  "trust_remote_code": trust_remote_code}
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        try:
            self.llm = vllm.LLM(model=self.model, **kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(f"vllm backend: cannot load model {self.model!r}: {exc}") from exc

    def _params(self, req: ChatRequest) -> Any:  # a vllm.SamplingParams
        return self._sampling_params(n=req.n, temperature=req.temperature, top_p=req.top_p,
                                     max_tokens=req.max_tokens, seed=req.seed, stop=list(req.stop) or None)

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        if not requests:
            return []
        try:
            outputs = self.llm.chat([list(r.messages) for r in requests], [self._params(r) for r in requests],
                                    use_tqdm=progress)
        except Exception as exc:  # noqa: BLE001 - one failed batch becomes per-item errors
            return [ChatResult([], f"vllm: {type(exc).__name__}: {exc}") for _ in requests]
        results = []
        for out in outputs:
            texts = [c.text for c in out.outputs]
            completion_tokens = sum(len(c.token_ids) for c in out.outputs)
            results.append(ChatResult(texts, None, False, len(out.prompt_token_ids or []), completion_tokens))
        return results

    def close(self) -> None:
        self.llm = None
