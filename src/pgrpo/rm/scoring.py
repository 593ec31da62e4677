"""Fast, deterministic scoring with a trained reasoning reward model (the thinking reward R_t).

Owns `RMItem`, `RewardScorer` and the scalar head. A saved RM is read by one of two heads
(`load_head`): the scalar head (a sequence-classification model; items encoded with
`pgrpo.rm.template.encode_rm_input`) or the implicit head (`pgrpo.rm.implicit`: a policy and its
reference, items encoded in the policy's own prompt/response format). Either way the encoding
is the one training used, with the same truncation policy. Items are sorted by token length so
each batch pads little, and cut into batches of at most `batch_size` items and
`max_batch_tokens` padded tokens (long items run alone, short ones together: on a CPU a large
padded batch is slower than small ones). Run in `torch.inference_mode()` with right padding
(real tokens never attend to pads and keep their positions, so a batched score equals the
one-at-a-time score up to float rounding); a batch without padding is run without an
attention mask, which keeps SDPA on its faster causal path. Scores come back in the caller's
order. bf16 on GPU, float32 on CPU unless `dtype` says otherwise. `score` is sigmoid(raw
score) in [0, 1]; `calls` counts items scored so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pgrpo.errors import PgrpoError
from pgrpo.rm.template import EncodedInput, encode_rm_input


@dataclass(frozen=True)
class RMItem:
    """One thing to score: a problem statement and a reasoning (optionally with its code)."""

    statement: str
    reasoning: str
    code: str | None = None


def _resolve_dtype(dtype, device: str):
    import torch

    if dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        names = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16,
                 "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}
        if dtype not in names:
            raise PgrpoError(f"dtype: must be one of {sorted(names)}, got {dtype!r}")
        return names[dtype]
    return dtype


class RewardHead(Protocol):
    """What `RewardScorer` runs: encode an item on the head's layout; score a right-padded batch
    (`mask` None when nothing is padded) given each row's first scored token and length."""

    model: Any
    tokenizer: Any

    def encode(self, statement: str, reasoning: str, code: str | None, max_length: int) -> EncodedInput: ...

    def forward(self, ids, mask, starts: list[int], lengths: list[int]) -> list[float]: ...


class ScalarHead:
    """The forward pass of a sequence-classification RM: one value read at the last token."""

    def __init__(self, model, tokenizer) -> None:
        if getattr(model.config, "num_labels", 1) != 1:
            raise PgrpoError(f"{model.config.name_or_path}: a reward model needs num_labels=1, "
                             f"got {model.config.num_labels}")
        # The head pools the last non-pad token, found through config.pad_token_id.
        model.config.pad_token_id = tokenizer.pad_token_id
        self.model = model.eval()
        self.tokenizer = tokenizer

    def encode(self, statement: str, reasoning: str, code: str | None, max_length: int) -> EncodedInput:
        return encode_rm_input(self.tokenizer, statement, reasoning, code, max_length)

    def forward(self, ids, mask, starts: list[int], lengths: list[int]) -> list[float]:
        logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        return logits.float().reshape(len(lengths), -1)[:, 0].cpu().tolist()


def load_head(model_path: str, device: str, dtype) -> RewardHead:
    """The head a saved RM needs: implicit if its directory has a `pgrpo_implicit_rm.json`
    (`pgrpo.rm.implicit`), else a sequence-classification model with a scalar head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pgrpo.rm.implicit import ImplicitHead, ImplicitSpec

    torch_dtype = _resolve_dtype(dtype, device)
    spec = ImplicitSpec.read(model_path) if Path(model_path).is_dir() else None
    architectures = _architectures(model_path)
    if spec is not None:
        if any(a.endswith("ForSequenceClassification") for a in architectures):
            raise PgrpoError(f"{model_path}: has an implicit-RM spec but holds a sequence-classification model "
                             f"({architectures}); retrain it in a fresh output_dir")
        return ImplicitHead.load(model_path, spec, device, torch_dtype)
    if any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures):
        raise PgrpoError(f"{model_path}: a causal LM, not a reward model (no scalar head, no implicit-RM spec)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForSequenceClassification.from_pretrained(model_path, dtype=torch_dtype)
    except OSError as exc:
        raise PgrpoError(f"{model_path}: cannot load reward model: {exc}") from exc
    _set_pad(tokenizer)
    return ScalarHead(model.to(device), tokenizer)


def _architectures(model_path: str) -> list[str]:
    """The checkpoint's `architectures` (local directory or hub id); [] when unknown."""
    from transformers import AutoConfig

    try:
        found = AutoConfig.from_pretrained(model_path).architectures
    except (OSError, ValueError):
        return []
    return [str(a) for a in found] if isinstance(found, list) else []


def _set_pad(tokenizer) -> None:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


class RewardScorer:
    """Scores `RMItem`s with a reward model saved at `model_path` (either head), or with an
    in-memory sequence-classification model (`from_model`)."""

    def __init__(self, model_path: str | None, *, batch_size: int = 16, max_length: int = 2048,
                 device: str | None = None, dtype=None, model=None, tokenizer=None,
                 max_batch_tokens: int | None = None) -> None:
        import torch

        if batch_size < 1:
            raise PgrpoError(f"batch_size must be >= 1, got {batch_size}")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.max_length = max_length
        # Padded tokens per batch: small on CPU (compute-bound, batching gains little), large on GPU.
        self.max_batch_tokens = max_batch_tokens or (1024 if self.device == "cpu" else 65536)
        self.calls = 0
        self.truncated = 0  # items the truncation policy cut, for the caller to log
        if model is None:
            if model_path is None:
                raise PgrpoError("RewardScorer needs a model_path (or a model and tokenizer)")
            self.head = load_head(model_path, self.device, dtype)
        elif tokenizer is None:
            raise PgrpoError("RewardScorer: pass the tokenizer together with the model")
        else:
            _set_pad(tokenizer)
            self.head = ScalarHead(model, tokenizer)
        self.model = self.head.model  # its config.name_or_path locates the RM's pgrpo_rm.json
        self.tokenizer = self.head.tokenizer

    @classmethod
    def from_model(cls, model, tokenizer, **kwargs) -> RewardScorer:
        """Wrap an in-memory model (e.g. right after training) without saving it first."""
        device = kwargs.pop("device", None) or str(next(model.parameters()).device)
        return cls(None, model=model, tokenizer=tokenizer, device=device, **kwargs)

    def encode(self, item: RMItem) -> list[int]:
        return self._encode(item)[0]

    def _encode(self, item: RMItem) -> tuple[list[int], int]:
        """(token ids, index of the first scored token) of `item` on the head's layout."""
        encoded = self.head.encode(item.statement, item.reasoning, item.code, self.max_length)
        self.truncated += encoded.truncated
        return encoded.input_ids, encoded.start

    def raw_scores(self, items: Sequence[RMItem]) -> list[float]:
        """Unbounded reward-head outputs, in the order of `items`."""
        import torch

        encoded = [self._encode(item) for item in items]
        lengths = [len(ids) for ids, _ in encoded]
        # Longest first (stable on index): similar lengths share a batch, and an
        # out-of-memory error shows up on the first batch rather than the last.
        order = sorted(range(len(encoded)), key=lambda i: (-lengths[i], i))
        scores = [0.0] * len(encoded)
        pad_id = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for batch in self._batches(order, lengths):
                width = lengths[batch[0]]  # longest first
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    ids[row, :lengths[i]] = torch.tensor(encoded[i][0], dtype=torch.long)
                    mask[row, :lengths[i]] = 1
                padded = lengths[batch[-1]] < width
                values = self.head.forward(ids.to(self.device), mask.to(self.device) if padded else None,
                                           [encoded[i][1] for i in batch], [lengths[i] for i in batch])
                for i, value in zip(batch, values):
                    scores[i] = float(value)
        self.calls += len(items)
        return scores

    def _batches(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Cut `order` (longest first) into batches within batch_size and max_batch_tokens."""
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            width = lengths[current[0]] if current else lengths[i]
            if current and (len(current) >= self.batch_size or width * (len(current) + 1) > self.max_batch_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def score(self, items: Sequence[RMItem]) -> list[float]:
        """sigmoid(raw score) in [0, 1] per item, order preserved."""
        return [_sigmoid(s) for s in self.raw_scores(items)]


def _sigmoid(x: float) -> float:
    # Split by sign so large |x| never overflows exp.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
