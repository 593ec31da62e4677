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
  (with how each benchmark scores) in `pgrpo.rm.bench_formats`; every format registers in
  `pgrpo.rm.bench_formats.base.BENCHMARK_FORMATS`, with the types they share.

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
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pgrpo.data.io import BadLine, iter_jsonl, open_text
from pgrpo.errors import DataError
from pgrpo.rm.bench_formats import judgebench, rewardbench2, rmbench  # noqa: F401 - importing registers them
from pgrpo.rm.bench_formats.base import BENCHMARK_FORMATS, BenchmarkFormat, EvalPair, ExcludedRow
from pgrpo.rm.data import malformed, text_field
from pgrpo.rm.scoring import RMItem

# Autodetection order: the most specific key set first (RewardBench 2 and RM-Bench rows also
# carry RewardBench's / the pairs format's keys).
DETECTION_ORDER = ("lcb-rb", "judgebench", "rewardbench2", "rm-bench", "rewardbench", "pairs")


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
