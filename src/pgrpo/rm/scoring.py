"""Scoring with a trained reasoning reward model (the thinking reward R_t): `RMItem`, `RewardScorer`
(the head its manifest names, length-sorted batches within `batch_size` and `max_batch_tokens`,
right padding so a batched score equals a lone one up to rounding), the scalar head, `sigmoid`,
and `build_tiny_rm` (an untrained scalar RM for plumbing tests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pgrpo.errors import PgrpoError
from pgrpo.hf_loading import ensure_pad_token, torch_dtype
from pgrpo.rm.manifest import RMManifest, read_manifest, write_manifest
from pgrpo.rm.template import EncodedInput, encode_rm_input, split_response

if TYPE_CHECKING:
    import torch

# Under `accelerate launch` with ZeRO-3, TRL's GRPOConfig registers a DeepSpeed config that makes every
# later `from_pretrained` partitioned (and sharding the RM would deadlock: ranks score different numbers
# of items), so every RM load (`load_whole`) and forward pass runs `outside_zero3_init`.
_LOCK = threading.Lock()  # the registered config is process-global


@contextmanager
def outside_zero3_init() -> Iterator[None]:
    """While inside, transformers sees no DeepSpeed config (no zero-init, no ZeRO-3 paths);
    the config registered before (if any) is registered again on exit."""
    from transformers.integrations import deepspeed as hf_deepspeed

    with _LOCK:
        ref = hf_deepspeed._hf_deepspeed_config_weak_ref  # the one place transformers keeps it
        registered = ref() if ref is not None else None
        if registered is None and not hf_deepspeed.is_deepspeed_zero3_enabled():
            yield
            return
        hf_deepspeed.unset_hf_deepspeed_config()
        try:
            yield
        finally:
            if registered is not None:
                hf_deepspeed.set_hf_deepspeed_config(registered)


def load_whole(loader: Callable[..., Any], path: Any, device: str, **kwargs: Any) -> Any:
    """`loader(path, **kwargs)` (a `from_pretrained`) outside zero-init, on `device`, in eval mode."""
    with outside_zero3_init():
        model = loader(path, **kwargs)
    return model.to(device).eval()


@dataclass(frozen=True)
class RMItem:
    """One thing to score: a problem statement and a reasoning (optionally with its code)."""

    statement: str
    reasoning: str
    code: str | None = None

    @classmethod
    def from_side(cls, statement: str, side: str) -> RMItem:
        """A pair side (reasoning [+ code section]) as an item, its code split off as training does."""
        return cls(statement, *split_response(side))


class RewardHead(Protocol):
    """What `RewardScorer` runs: encode an item on the head's layout; score a right-padded batch
    (`mask` None when nothing is padded) given each row's first scored token and length."""

    model: Any
    tokenizer: Any

    def encode(self, statement: str, reasoning: str, code: str | None, max_length: int) -> EncodedInput: ...

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None, starts: list[int],
                lengths: list[int]) -> list[float]: ...


class ScalarHead:
    """The forward pass of a sequence-classification RM: one value read at the last token."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        if getattr(model.config, "num_labels", 1) != 1:
            raise PgrpoError(f"{model.config.name_or_path}: a reward model needs num_labels=1, "
                             f"got {model.config.num_labels}")
        # The head pools the last non-pad token, found through config.pad_token_id.
        model.config.pad_token_id = tokenizer.pad_token_id
        self.model = model.eval()
        self.tokenizer = tokenizer

    def encode(self, statement: str, reasoning: str, code: str | None, max_length: int) -> EncodedInput:
        return encode_rm_input(self.tokenizer, statement, reasoning, code, max_length)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None, starts: list[int], lengths: list[int]) -> list[float]:
        logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        scores: list[float] = logits.float().reshape(len(lengths), -1)[:, 0].cpu().tolist()
        return scores


def load_head(model_path: str, manifest: RMManifest, device: str, dtype: Any) -> RewardHead:
    """The head the manifest of the RM saved at `model_path` names: implicit (`pgrpo.rm.implicit`: the
    policy and its frozen reference) or a sequence-classification model with a scalar head."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from pgrpo.rm.implicit import ImplicitHead

    model_dtype = torch_dtype(dtype, device)
    architectures = _architectures(model_path)
    scalar = any(a.endswith("ForSequenceClassification") for a in architectures)
    implicit = manifest.implicit
    if architectures and (implicit is not None) == scalar:
        raise PgrpoError(f"{model_path}: its manifest says head={manifest.head} but it holds {architectures}; "
                         f"retrain it in a fresh output_dir")
    auto = AutoModelForSequenceClassification if implicit is None else AutoModelForCausalLM
    reference_dir = Path(model_path) / implicit.reference if implicit is not None else None
    try:
        tokenizer = ensure_pad_token(AutoTokenizer.from_pretrained(model_path))
        model = load_whole(auto.from_pretrained, model_path, device, dtype=model_dtype)
        if implicit is None:
            return ScalarHead(model, tokenizer)
        reference = load_whole(auto.from_pretrained, reference_dir, device, dtype=model_dtype)
    except OSError as exc:
        what = "reward model" if reference_dir is None else f"implicit reward model (policy and {reference_dir})"
        raise PgrpoError(f"{model_path}: cannot load {what}: {exc}") from exc
    return ImplicitHead(model, reference, tokenizer, implicit)


def _architectures(model_path: str) -> list[str]:
    """The checkpoint's `architectures` (local directory or hub id); [] when unknown."""
    from transformers import AutoConfig

    try:
        found = AutoConfig.from_pretrained(model_path).architectures
    except (OSError, ValueError):
        return []
    return [str(a) for a in found] if isinstance(found, list) else []


class RewardScorer:
    """Scores `RMItem`s with the reward model saved at `model_path` (either head, as its manifest
    says), or with a given head (e.g. the in-memory model right after training) and its manifest.
    Items are read on the manifest's layout: their code is dropped unless it says `include_code`.
    `max_length` defaults to the manifest's (the training length)."""

    def __init__(self, model_path: str, *, batch_size: int = 16, max_length: int | None = None,
                 device: str | None = None, dtype: Any = None, max_batch_tokens: int | None = None,
                 head: RewardHead | None = None, manifest: RMManifest | None = None) -> None:
        import torch

        if batch_size < 1:
            raise PgrpoError(f"batch_size must be >= 1, got {batch_size}")
        self.manifest = manifest = manifest or read_manifest(model_path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.max_length = max_length or manifest.max_length
        # Padded tokens per batch: small on CPU (compute-bound, batching gains little), large on GPU.
        self.max_batch_tokens = max_batch_tokens or (1024 if self.device == "cpu" else 65536)
        self.calls = 0
        self.truncated = 0  # items the truncation policy cut, for the caller to log
        self.head = head or load_head(model_path, manifest, self.device, dtype)
        self.model = self.head.model
        self.tokenizer = self.head.tokenizer

    def encode(self, item: RMItem) -> list[int]:
        return self.encode_items([item])[0].input_ids

    def encode_items(self, items: Sequence[RMItem]) -> list[EncodedInput]:
        """Each item on the head's layout (its code dropped unless the manifest says include_code),
        cut to `max_length`; counted in `truncated`. What `raw_scores_encoded` takes."""
        out = []
        for item in items:
            code = item.code if self.manifest.include_code else None
            encoded = self.head.encode(item.statement, item.reasoning, code, self.max_length)
            self.truncated += encoded.truncated
            out.append(encoded)
        return out

    def raw_scores(self, items: Sequence[RMItem]) -> list[float]:
        """Unbounded reward-head outputs, in the order of `items`."""
        return self.raw_scores_encoded(self.encode_items(items))

    def raw_scores_encoded(self, encoded: Sequence[EncodedInput]) -> list[float]:
        """`raw_scores` of items already encoded by `encode_items` (the RM service encodes each
        request on arrival and scores several requests' items together)."""
        import torch
        from torch.nn.utils.rnn import pad_sequence

        lengths = [len(e.input_ids) for e in encoded]
        # Longest first (stable on index): similar lengths share a batch, and an
        # out-of-memory error shows up on the first batch rather than the last.
        order = sorted(range(len(encoded)), key=lambda i: (-lengths[i], i))
        scores = [0.0] * len(encoded)
        pad_id = self.tokenizer.pad_token_id
        # Outside ZeRO-3 here too: transformers/TRL code would treat the whole RM's weights as shards.
        with outside_zero3_init(), torch.inference_mode():
            for batch in self._batches(order, lengths):
                rows = [torch.tensor(encoded[i].input_ids, dtype=torch.long) for i in batch]
                ids = pad_sequence(rows, batch_first=True, padding_value=pad_id)
                mask = pad_sequence([torch.ones_like(row) for row in rows], batch_first=True)
                padded = lengths[batch[-1]] < lengths[batch[0]]  # longest first
                values = self.head.forward(ids.to(self.device), mask.to(self.device) if padded else None,
                                           [encoded[i].start for i in batch], [lengths[i] for i in batch])
                for i, value in zip(batch, values):
                    scores[i] = float(value)
        self.calls += len(encoded)
        return scores

    def _batches(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Cut `order` (longest first) into batches within batch_size and max_batch_tokens."""
        batches: list[list[int]] = []
        for i in order:
            last = batches[-1] if batches else []
            if last and len(last) < self.batch_size and lengths[last[0]] * (len(last) + 1) <= self.max_batch_tokens:
                last.append(i)
            else:
                batches.append([i])
        return batches

    def score(self, items: Sequence[RMItem]) -> list[float]:
        """sigmoid(raw score) in [0, 1] per item, order preserved."""
        return sigmoid(self.raw_scores(items))


def sigmoid(raw: Sequence[float]) -> list[float]:
    """The thinking reward of raw RM scores (float64), the one definition (scorer and RM service)."""
    import torch

    return torch.sigmoid(torch.tensor(list(raw), dtype=torch.float64)).tolist()


def build_tiny_rm(out_dir: str | Path, *, tokenizer: Any = None, seed: int = 0, **config_kwargs: Any) -> Path:
    """An UNTRAINED tiny scalar RM (`pgrpo.tiny`'s Qwen2 with a one-label head) + tokenizer +
    manifest (reads problem + reasoning) saved to `out_dir`: for plumbing tests only."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from pgrpo.tiny import build_tokenizer, tiny_qwen2_config

    out = Path(out_dir)
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    config = tiny_qwen2_config(len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, **config_kwargs)
    config.num_labels = 1
    torch.manual_seed(seed)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_manifest(out, RMManifest("scalar", "pgrpo.tiny (untrained)", False, config.max_position_embeddings))
    return out
