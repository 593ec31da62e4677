"""Preference-benchmark file formats read by `pgrpo rm eval`, detected by their keys.

Every format turns one row into one or more `EvalPair`s (subset, chosen RMItem, rejected RMItem).
Registered formats (registry `BENCHMARK_FORMATS`; autodetection tries DETECTION_ORDER):

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

* `judgebench`, `rewardbench2`, `rm-bench` -- JudgeBench, RewardBench 2 and RM-Bench, defined
  (with how each benchmark scores) in `pgrpo.rm.bench_formats`, imported on first use.

A format's row becomes one EvalPair or several (RM-Bench: 9, one per cell of its style grid,
told apart by `slot`); a format with an `aggregate` scores its rows by its own rule, the others
by pairwise accuracy with ties counted half (pgrpo.rm.evaluate). Files are JSONL, or one JSON
array of row objects (RM-Bench ships `total_dataset.json`); line numbers are the file's either
way. The pairs of one row carry its ordinal (`EvalPair.row`, set here): per-row rules group by
it, never by line (a minified array is all on line 1). Bad rows (a missing, empty or mistyped
field) raise one DataError listing file:line and the key; a row a format deliberately leaves
out (`ExcludedRow`) is reported, not scored.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrpo.data.io import BadLine, iter_jsonl, open_text
from pgrpo.errors import DataError
from pgrpo.registry import Registry
from pgrpo.rm.data import malformed, text_field
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
# Autodetection order: the most specific key set first (RewardBench 2 and RM-Bench rows also
# carry RewardBench's / the pairs format's keys).
DETECTION_ORDER = ("lcb-rb", "judgebench", "rewardbench2", "rm-bench", "rewardbench", "pairs")
# Modules whose import registers more formats.
FORMAT_MODULES: tuple[str, ...] = ("pgrpo.rm.bench_formats",)


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


def _import_format_modules() -> None:
    for module in FORMAT_MODULES:
        importlib.import_module(module)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def iter_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line, object) for each JSONL line, or each element of a top-level JSON array."""
    with open_text(path) as handle:
        first = next((ch for ch in iter(lambda: handle.read(1), "") if not ch.isspace()), "")
    if first != "[":
        yield from iter_jsonl(path)
        return
    with open_text(path) as handle:
        text = handle.read()
    decoder = json.JSONDecoder()
    pos = _skip_space(text, text.index("[") + 1)
    line = 1 + text.count("\n", 0, pos)
    while not text.startswith("]", pos):
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{line}: expected a JSON object, got {type(obj).__name__}")
        yield line, obj
        nxt = _skip_space(text, end)
        if not text.startswith((",", "]"), nxt):
            where = line + text.count("\n", pos, nxt)
            raise DataError(f"{path}:{where}: invalid JSON array: expected ',' or ']'")
        if text.startswith(",", nxt):
            nxt = _skip_space(text, nxt + 1)
        line += text.count("\n", pos, nxt)
        pos = nxt


def detect_format(obj: dict[str, Any], where: str) -> BenchmarkFormat:
    _import_format_modules()
    keys = set(obj)
    for name in DETECTION_ORDER:
        fmt = BENCHMARK_FORMATS.get(name)
        if fmt.matches(keys):
            return fmt
    raise DataError(f"{where}: cannot tell the benchmark format from keys {sorted(keys)}; "
                    f"known formats: {', '.join(DETECTION_ORDER)} (see pgrpo.rm.benchmarks)")


def load_benchmark(path: str | Path, format: str | None = None, subsets: Sequence[str] | None = None,
                   excluded: list[BadLine] | None = None) -> tuple[BenchmarkFormat, list[EvalPair]]:
    """Read a benchmark file; `subsets` keeps rows whose subset matches any glob pattern; rows the
    format leaves out (ExcludedRow) are appended to `excluded` when given."""
    _import_format_modules()
    fmt = None
    if format is not None:
        try:
            fmt = BENCHMARK_FORMATS.get(format)
        except KeyError as exc:
            raise DataError(f"--format: {exc.args[0]}") from None
    pairs: list[EvalPair] = []
    bad: list[BadLine] = []
    def wanted(subset: str) -> bool:
        return not subsets or any(fnmatch.fnmatchcase(subset, pat) for pat in subsets)

    for ordinal, (lineno, obj) in enumerate(iter_records(path)):
        if fmt is None:
            fmt = detect_format(obj, f"{path}:{lineno}")
        missing = [k for k in fmt.required if k not in obj]
        try:
            if missing:
                raise ValueError(f"missing field(s) {missing} for format {fmt.name!r}")
            parsed = fmt.parse(obj, lineno)
        except ExcludedRow as exc:
            if excluded is not None and wanted(exc.subset):
                excluded.append(BadLine(str(path), lineno, f"subset {exc.subset!r}: {exc}"))
            continue
        except ValueError as exc:
            bad.append(BadLine(str(path), lineno, str(exc)))
            continue
        row = (parsed,) if isinstance(parsed, EvalPair) else parsed
        if row and wanted(row[0].subset):
            pairs.extend(dataclasses.replace(pair, row=ordinal) for pair in row)
    if bad:
        raise malformed(path, bad)
    if fmt is None or not pairs:
        raise DataError(f"{path}: no pairs" + (f" in subsets {list(subsets)}" if subsets else ""))
    return fmt, pairs
