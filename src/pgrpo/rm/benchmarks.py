"""Preference-benchmark file formats read by `pgrpo rm eval`, detected by their keys.

Every format turns one JSONL line into an `EvalPair` (subset, chosen RMItem, rejected RMItem).
Registered formats (registry `BENCHMARK_FORMATS`, tried in this order when autodetecting):

* `lcb-rb` -- what the LCB-RB builder (`pgrpo bench build`) writes, one pair per line::

      {"question_id": str, "problem": str,
       "chosen_reasoning": str, "chosen_code": str,
       "rejected_reasoning": str, "rejected_code": str,
       "subset": str (optional; else "difficulty", else "lcb-rb"), "difficulty": str (optional)}

  The RM reads rm_input_text(problem, reasoning, code) for each side.
* `rewardbench` -- RewardBench's rows: `prompt`, `chosen`, `rejected`, `subset` (the paper
  reports the code subsets `hep-*` and the math subset `math-prm`); the response text is the
  reasoning, with no separate code.
* `pairs` -- the training pairs format (`prompt`, `chosen`, `rejected`[, `pair_type`, ...]);
  the subset is the pair_type (or "all").

Bad lines (missing or empty fields) raise a DataError naming file:line.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrpo.data.io import BadLine, iter_jsonl
from pgrpo.errors import DataError
from pgrpo.registry import Registry
from pgrpo.rm.data import malformed, text_field
from pgrpo.rm.scoring import RMItem


@dataclass(frozen=True)
class EvalPair:
    """One benchmark pair; `line` is its 1-based line in the source file."""

    subset: str
    chosen: RMItem
    rejected: RMItem
    line: int = 0
    pair_id: str | None = None


@dataclass(frozen=True)
class BenchmarkFormat:
    name: str
    required: tuple[str, ...]
    parse: Callable[[dict[str, Any], int], EvalPair]
    # Named groups of subsets (glob patterns) reported together, e.g. RewardBench "code".
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def matches(self, keys: set[str]) -> bool:
        return all(k in keys for k in self.required)


BENCHMARK_FORMATS: Registry[BenchmarkFormat] = Registry("benchmark format")
# Autodetection order: the most specific key set first.
DETECTION_ORDER = ("lcb-rb", "rewardbench", "pairs")


def _parse_lcb_rb(obj: dict[str, Any], line: int) -> EvalPair:
    problem = text_field(obj, "problem")
    # An empty code field means "no code" (None), the layout training and the RL reward use too.
    chosen, rejected = (RMItem(problem, text_field(obj, f"{side}_reasoning"),
                               text_field(obj, f"{side}_code", allow_empty=True) or None)
                        for side in ("chosen", "rejected"))
    subset = obj.get("subset") or obj.get("difficulty") or "lcb-rb"
    return EvalPair(str(subset), chosen, rejected, line, str(obj.get("question_id")))


def _pair_sides(obj: dict[str, Any]) -> tuple[RMItem, RMItem]:
    prompt = text_field(obj, "prompt")
    chosen, rejected = (RMItem.from_side(prompt, text_field(obj, side)) for side in ("chosen", "rejected"))
    return chosen, rejected


def _parse_rewardbench(obj: dict[str, Any], line: int) -> EvalPair:
    pair_id = obj.get("id")
    return EvalPair(text_field(obj, "subset"), *_pair_sides(obj), line, None if pair_id is None else str(pair_id))


def _parse_pairs(obj: dict[str, Any], line: int) -> EvalPair:
    return EvalPair(str(obj.get("pair_type") or "all"), *_pair_sides(obj), line)


BENCHMARK_FORMATS.add("lcb-rb", BenchmarkFormat(
    "lcb-rb", ("problem", "chosen_reasoning", "chosen_code", "rejected_reasoning", "rejected_code"),
    _parse_lcb_rb))
BENCHMARK_FORMATS.add("rewardbench", BenchmarkFormat(
    "rewardbench", ("prompt", "chosen", "rejected", "subset"), _parse_rewardbench,
    categories=(("code", ("hep-*",)), ("math", ("math-prm",)))))
BENCHMARK_FORMATS.add("pairs", BenchmarkFormat("pairs", ("prompt", "chosen", "rejected"), _parse_pairs))


def detect_format(obj: dict[str, Any], where: str) -> BenchmarkFormat:
    keys = set(obj)
    for name in DETECTION_ORDER:
        fmt = BENCHMARK_FORMATS.get(name)
        if fmt.matches(keys):
            return fmt
    raise DataError(f"{where}: cannot tell the benchmark format from keys {sorted(keys)}; "
                    f"known formats: {', '.join(DETECTION_ORDER)} (see pgrpo.rm.benchmarks)")


def load_benchmark(path: str | Path, format: str | None = None,
                   subsets: Sequence[str] | None = None) -> tuple[BenchmarkFormat, list[EvalPair]]:
    """Read a benchmark JSONL; `subsets` keeps pairs whose subset matches any glob pattern."""
    fmt = None
    if format is not None:
        try:
            fmt = BENCHMARK_FORMATS.get(format)
        except KeyError as exc:
            raise DataError(f"--format: {exc.args[0]}") from None
    pairs: list[EvalPair] = []
    bad: list[BadLine] = []
    for lineno, obj in iter_jsonl(path):
        if fmt is None:
            fmt = detect_format(obj, f"{path}:{lineno}")
        missing = [k for k in fmt.required if k not in obj]
        try:
            if missing:
                raise ValueError(f"missing field(s) {missing} for format {fmt.name!r}")
            pair = fmt.parse(obj, lineno)
        except ValueError as exc:
            bad.append(BadLine(str(path), lineno, str(exc)))
            continue
        if subsets and not any(fnmatch.fnmatchcase(pair.subset, pat) for pat in subsets):
            continue
        pairs.append(pair)
    if bad:
        raise malformed(path, bad)
    if fmt is None or not pairs:
        raise DataError(f"{path}: no pairs" + (f" in subsets {list(subsets)}" if subsets else ""))
    return fmt, pairs
