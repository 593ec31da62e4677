"""The `hf` backend: a local transformers causal LM (CPU or GPU). Requests with the same sampling
parameters are batched (left padding, at most `max_batch_size` rows); torch is seeded per batch from the
request seed, so the same requests give the same texts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from pgrpo.errors import PgrpoError
from pgrpo.hf_loading import ensure_pad_token, torch_dtype
from pgrpo.llm.base import BACKENDS, BackendError, ChatBackend, ChatRequest, ChatResult
from pgrpo.paths import is_local_path


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut `text` at the earliest stop string (excluded, as in the OpenAI API)."""
    found = [pos for pos in (text.find(s) for s in stop if s) if pos >= 0]
    return text[:min(found, default=len(text))]


def completion_length(ids: Sequence[int], eos: int | None, pad: int | None) -> int:
    """How many generated `ids` are the completion: up to and including the first eos, else all but the
    trailing pads (generate pads a row another stop id ended); a pad sampled mid-text counts."""
    end = list(ids).index(eos) + 1 if eos is not None and eos in ids else len(ids)
    while end and ids[end - 1] == pad and ids[end - 1] != eos:
        end -= 1
    return end


@BACKENDS.register("hf")
class HFBackend(ChatBackend):
    """A local transformers model at `model` (a path or an already-cached hub id)."""

    name = "hf"

    def __init__(self, model: str, *, device: str | None = None, dtype: str = "auto",
                 max_batch_size: int = 8, trust_remote_code: bool = False) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if max_batch_size < 1:
            raise BackendError(f"hf backend: max_batch_size must be >= 1, got {max_batch_size}")
        self.model = str(model)
        self.max_batch_size = int(max_batch_size)
        self.chunk_size = max(self.max_batch_size, 8)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            model_dtype = torch_dtype(dtype)
        except PgrpoError as exc:
            raise BackendError(f"hf backend: {exc}") from None
        if is_local_path(self.model) and not os.path.exists(os.path.expanduser(self.model)):
            raise BackendError(f"hf backend: model path {self.model!r} does not exist")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model, trust_remote_code=trust_remote_code)
            lm: Any = AutoModelForCausalLM.from_pretrained(
                self.model, dtype=model_dtype, trust_remote_code=trust_remote_code
            )
            self.lm = lm.to(self.device)
        except (OSError, ValueError) as exc:
            raise BackendError(f"hf backend: cannot load model {self.model!r}: {exc}") from exc
        self.lm.eval()
        self.tokenizer.padding_side = "left"
        ensure_pad_token(self.tokenizer)
        self._lock = threading.Lock()  # one generate at a time (the server calls from threads)

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        from tqdm.auto import tqdm

        texts: list[list[str]] = [[] for _ in requests]
        tokens = [[0, 0] for _ in requests]  # prompt, completion
        errors: dict[int, str] = {}  # the first failure of a request is the one reported
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((req.temperature, req.top_p, req.max_tokens, req.seed, req.stop), []).append(i)
        bar = tqdm(total=len(requests), desc=f"hf:{self.model}", unit="req", disable=not progress)
        with self._lock:
            for idx in groups.values():
                # one row per sample; greedy samples are identical, so run once
                rows = [i for i in idx for _ in range(requests[i].n if requests[i].temperature > 0 else 1)]
                for start in range(0, len(rows), self.max_batch_size):
                    batch = rows[start:start + self.max_batch_size]
                    try:
                        outs = self._generate_rows([requests[i] for i in batch], batch_number=start)
                    except Exception as exc:  # noqa: BLE001 - one bad batch is reported per item
                        for i in batch:
                            errors.setdefault(i, f"{type(exc).__name__}: {exc}")
                        continue
                    for i, (text, ptok, ctok) in zip(batch, outs):
                        texts[i].append(text)
                        tokens[i] = [ptok, tokens[i][1] + ctok]
                bar.update(len(idx))
        bar.close()
        return [ChatResult([], errors[i]) if i in errors
                else ChatResult(texts[i] * (req.n if req.temperature == 0 else 1), None, False, *tokens[i])
                for i, req in enumerate(requests)]

    def _generate_rows(self, reqs: list[ChatRequest], batch_number: int = 0) -> list[tuple[str, int, int]]:
        """(text, prompt tokens, completion tokens) per row (rows share sampling params); `batch_number`
        offsets the seed, so n copies spread over several batches are distinct samples."""
        import torch

        first = reqs[0]
        prompts = [self.tokenizer.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True)
                   for r in reqs]  # the chat-template text, the assistant turn opened
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": first.max_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if self.tokenizer.eos_token_id is not None:
            kwargs["eos_token_id"] = self.tokenizer.eos_token_id
        if first.temperature > 0:
            kwargs.update(do_sample=True, temperature=first.temperature, top_p=first.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if first.stop:
            kwargs.update(stop_strings=list(first.stop), tokenizer=self.tokenizer)
        if first.seed is not None:
            torch.manual_seed(first.seed + batch_number)
        with torch.inference_mode():
            out = self.lm.generate(**enc, **kwargs)
        prompt_len = enc["input_ids"].shape[1]
        new = out[:, prompt_len:]
        rows: list[tuple[str, int, int]] = []
        for r, req in enumerate(reqs):
            ids = new[r].tolist()
            ctok = completion_length(ids, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
            text = str(self.tokenizer.decode(ids[:ctok], skip_special_tokens=True))
            ptok = int(enc["attention_mask"][r].sum())
            rows.append((truncate_at_stop(text, req.stop), ptok, ctok))
        return rows

