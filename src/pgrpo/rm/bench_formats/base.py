"""The types every `pgrpo rm eval` benchmark format shares, and the `BENCHMARK_FORMATS` registry.

Owns `EvalPair`, `Breakdown`, `ExcludedRow`, `BenchmarkFormat` and the field helpers the
formats parse rows with. Formats register here: the plain ones in `pgrpo.rm.benchmarks`
(which also reads the files), those with their own scoring rules in this package's siblings,
and a plugin's when loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.registry import Registry
from pgrpo.rm.metrics import Accuracy
from pgrpo.rm.scoring import RMItem


@dataclass(frozen=True)
class EvalPair:
    """One benchmark pair; `line` is its 1-based line in the source file (where its row starts),
    `row` the 0-based ordinal of its row among the file's records, set by `load_benchmark` (rows
    of a minified JSON array all share line 1; the ordinal still tells them apart)."""

    subset: str
    chosen: RMItem
    rejected: RMItem
    line: int = 0
    pair_id: str | None = None
    # Where this pair sits in its row, for formats with several per row: RM-Bench (chosen style,
    # rejected style), RewardBench 2 (index of the other completion,); () for a plain pair.
    slot: tuple[int, ...] = ()
    row: int | None = None


@dataclass(frozen=True)
class Breakdown:
    """A benchmark's scores: overall, per subset, and named categories (e.g. "code", "hard")."""

    overall: Accuracy
    subsets: dict[str, Accuracy]
    categories: dict[str, Accuracy]


# (pairs, one (score_chosen, score_rejected) per pair, n_boot, seed) -> Breakdown
Aggregator = Callable[[Sequence[EvalPair], Sequence[tuple[float, float]], int, int], Breakdown]


class ExcludedRow(Exception):
    """Raised by a parser for a row its benchmark scores in a way pgrpo does not (reported, not scored)."""

    def __init__(self, subset: str, reason: str) -> None:
        super().__init__(reason)
        self.subset = subset


@dataclass(frozen=True)
class BenchmarkFormat:
    name: str
    required: tuple[str, ...]
    parse: Callable[[dict[str, Any], int], EvalPair | tuple[EvalPair, ...]]
    # Named groups of subsets (glob patterns) reported together, e.g. RewardBench "code".
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The benchmark's own scoring rule; None: pairwise accuracy, ties half, per subset / category.
    aggregate: Aggregator | None = None
    unit: str = "pairs"  # what `n` counts in the report
    rule: str = "Ties count half."  # one line on how the accuracy is computed, printed under the table
    overall_label: str = "overall"  # the overall row's name in the report (say when it is not the usual one)

    def matches(self, keys: set[str]) -> bool:
        return all(k in keys for k in self.required)


BENCHMARK_FORMATS: Registry[BenchmarkFormat] = Registry("benchmark format")


def text_list(obj: dict[str, Any], key: str, length: int | None = None) -> list[str]:
    """obj[key], a non-empty list of non-empty strings (of exactly `length` if given); ValueError
    naming the key (and the item) otherwise."""
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise ValueError(f"field {key!r} must be a non-empty list of strings, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise ValueError(f"field {key!r} must hold {length} responses, got {len(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"field {key!r}[{i}] must be a non-empty string, got {item!r:.40}")
    return value


def rows_of(pairs: Sequence[EvalPair], scores: Sequence[tuple[float, float]]
            ) -> list[list[tuple[EvalPair, tuple[float, float]]]]:
    """The (pair, scores) of each source row (pairs of a row share its `row` ordinal), in file order.
    ValueError for a pair without one (not read by `load_benchmark`)."""
    rows: dict[int, list[tuple[EvalPair, tuple[float, float]]]] = {}
    for pair, score in zip(pairs, scores):
        if pair.row is None:
            raise ValueError(f"pair at line {pair.line} (id {pair.pair_id}) has no row ordinal: per-row scoring "
                             f"needs pairs read by pgrpo.rm.benchmarks.load_benchmark")
        rows.setdefault(pair.row, []).append((pair, score))
    return list(rows.values())
