"""Fast, deterministic scoring with a trained reasoning reward model (the thinking reward R_t).

Owns `RMItem` and `RewardScorer`. Items are encoded with `pgrpo.rm.template.encode_rm_input`
(the same template and truncation policy as training), sorted by token length so each batch
pads little, and cut into batches of at most `batch_size` items and `max_batch_tokens` padded
tokens (long items run alone, short ones together: on a CPU a large padded batch is slower
than small ones). Run in `torch.inference_mode()` with right padding (real tokens never attend
to pads and keep their positions, so a batched score equals the one-at-a-time score up to
float rounding); a batch without padding is run without an attention mask, which keeps SDPA
on its faster causal path. Scores come back in the caller's order. bf16 on GPU, float32 on CPU unless `dtype` says
otherwise. `score` is sigmoid(raw score) in [0, 1]; `calls` counts items scored so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pgrpo.errors import PgrpoError
from pgrpo.rm.template import encode_rm_input


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


class RewardScorer:
    """Scores `RMItem`s with a sequence-classification reward model saved at `model_path`."""

    def __init__(self, model_path: str | None, *, batch_size: int = 16, max_length: int = 2048,
                 device: str | None = None, dtype=None, model=None, tokenizer=None,
                 max_batch_tokens: int | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

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
            try:
                tokenizer = AutoTokenizer.from_pretrained(model_path)
                model = AutoModelForSequenceClassification.from_pretrained(
                    model_path, dtype=_resolve_dtype(dtype, self.device))
            except OSError as exc:
                raise PgrpoError(f"{model_path}: cannot load reward model: {exc}") from exc
            model.to(self.device)
        elif tokenizer is None:
            raise PgrpoError("RewardScorer: pass the tokenizer together with the model")
        if getattr(model.config, "num_labels", 1) != 1:
            raise PgrpoError(f"{model_path}: a reward model needs num_labels=1, got {model.config.num_labels}")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        # The head pools the last non-pad token, found through config.pad_token_id.
        model.config.pad_token_id = tokenizer.pad_token_id
        self.model = model.eval()
        self.tokenizer = tokenizer

    @classmethod
    def from_model(cls, model, tokenizer, **kwargs) -> RewardScorer:
        """Wrap an in-memory model (e.g. right after training) without saving it first."""
        device = kwargs.pop("device", None) or str(next(model.parameters()).device)
        return cls(None, model=model, tokenizer=tokenizer, device=device, **kwargs)

    def encode(self, item: RMItem) -> list[int]:
        encoded = encode_rm_input(self.tokenizer, item.statement, item.reasoning, item.code, self.max_length)
        self.truncated += encoded.truncated
        return encoded.input_ids

    def raw_scores(self, items: Sequence[RMItem]) -> list[float]:
        """Unbounded reward-head outputs, in the order of `items`."""
        import torch

        encoded = [self.encode(item) for item in items]
        # Longest first (stable on index): similar lengths share a batch, and an
        # out-of-memory error shows up on the first batch rather than the last.
        order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i))
        scores = [0.0] * len(encoded)
        pad_id = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for batch in self._batches(order, [len(e) for e in encoded]):
                width = len(encoded[batch[0]])  # longest first
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    ids[row, :len(encoded[i])] = torch.tensor(encoded[i], dtype=torch.long)
                    mask[row, :len(encoded[i])] = 1
                padded = len(encoded[batch[-1]]) < width
                logits = self.model(input_ids=ids.to(self.device),
                                    attention_mask=mask.to(self.device) if padded else None,
                                    use_cache=False).logits
                values = logits.float().reshape(len(batch), -1)[:, 0].cpu().tolist()
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
