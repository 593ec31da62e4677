"""Preference pairs for reward-model training: the JSONL format (`prompt`, `chosen`, `rejected`
[, `pair_type`, `dimension`, `margin`]), validation (`load_pairs`: every bad line as file:line,
or skipped with `skip_bad`) and the held-out split by problem.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgrpo.data.io import BadLine, iter_jsonl
from pgrpo.errors import DataError

PAIR_TYPES = ("strong", "optimized", "degraded")
MAX_REPORTED = 20


@dataclass(frozen=True)
class Pair:
    """One preference pair; `line` is its 1-based line in the source file (0 if built in code)."""

    prompt: str
    chosen: str
    rejected: str
    pair_type: str | None = None
    dimension: str | None = None
    margin: float | None = None
    line: int = 0


@dataclass
class PairSet:
    """Valid pairs in file order, plus the lines that were skipped (only with skip_bad)."""

    path: str
    pairs: list[Pair]
    bad: list[BadLine] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)


def text_field(obj: dict[str, Any], key: str, allow_empty: bool = False) -> str:
    """obj[key], a string; ValueError naming the key when it is missing, not a string or empty."""
    if key not in obj:
        raise ValueError(f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"field {key!r} is empty")
    return value


def parse_pair(obj: dict[str, Any], line: int = 0) -> Pair:
    """The Pair in `obj`; ValueError saying why it is not a usable pair."""
    prompt, chosen, rejected = (text_field(obj, key) for key in ("prompt", "chosen", "rejected"))
    if chosen.strip() == rejected.strip():
        raise ValueError("chosen is identical to rejected")
    pair_type = obj.get("pair_type")
    if pair_type is not None and pair_type not in PAIR_TYPES:
        raise ValueError(f"field 'pair_type' must be one of {list(PAIR_TYPES)}, got {pair_type!r}")
    dimension = obj.get("dimension")
    if dimension is not None and not isinstance(dimension, str):
        raise ValueError(f"field 'dimension' must be a string, got {type(dimension).__name__}")
    margin = obj.get("margin")
    if margin is not None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
            raise ValueError(f"field 'margin' must be a finite number, got {margin!r}")
        margin = float(margin)
    return Pair(prompt, chosen, rejected, pair_type, dimension or None, margin, line)


def malformed(path: str | Path, bad: Sequence[BadLine], hint: str = "") -> DataError:
    """The error listing a file's malformed pairs (the first MAX_REPORTED of them)."""
    shown = "\n".join(f"  {b}" for b in bad[:MAX_REPORTED])
    more = f"\n  ... and {len(bad) - MAX_REPORTED} more" if len(bad) > MAX_REPORTED else ""
    return DataError(f"{path}: {len(bad)} malformed pair(s){hint}:\n{shown}{more}")


def load_pairs(path: str | Path, skip_bad: bool = False) -> PairSet:
    """Read and validate a pairs JSONL (gz ok). Bad lines raise DataError unless `skip_bad`."""
    bad: list[BadLine] = []
    pairs: list[Pair] = []
    for lineno, obj in iter_jsonl(path, bad):
        try:
            pairs.append(parse_pair(obj, lineno))
        except ValueError as exc:
            bad.append(BadLine(str(path), lineno, str(exc)))
    bad.sort(key=lambda b: b.line)
    if bad and not skip_bad:
        raise malformed(path, bad, " (use --skip-bad to skip them)")
    if not pairs:
        raise DataError(f"{path}: no valid pairs")
    return PairSet(str(path), pairs, bad)


def split_pairs(pairs: Sequence[Pair], heldout_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Deterministic shuffle-split into (train, heldout), grouped by prompt.

    All pairs of one problem land on the same side, so held-out accuracy measures
    generalisation to unseen problems rather than to unseen rewrites of a seen one.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    prompts = sorted({p.prompt for p in pairs})
    random.Random(seed).shuffle(prompts)
    n_heldout = round(len(prompts) * heldout_fraction)
    if heldout_fraction > 0 and n_heldout == 0 and len(prompts) > 1:
        n_heldout = 1
    heldout_prompts = set(prompts[:n_heldout])
    train = [p for p in pairs if p.prompt not in heldout_prompts]
    heldout = [p for p in pairs if p.prompt in heldout_prompts]
    return train, heldout
