"""Reading `pgrpo rm eval` benchmark files (JSONL, or one JSON array as RM-Bench ships; line numbers
are the file's either way) into `EvalPair`s: the format given or detected by its keys
(`DETECTION_ORDER`; formats in pgrpo.rm.bench_formats), subsets kept by glob, bad rows as one
DataError naming file:line and the key, rows a format leaves out (`ExcludedRow`) reported.
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
from pgrpo.rm.bench_formats import BENCHMARK_FORMATS, BenchmarkFormat, EvalPair, ExcludedRow
from pgrpo.rm.data import malformed

# Autodetection order: the most specific key set first (RewardBench 2 and RM-Bench rows also
# carry RewardBench's / the pairs format's keys).
DETECTION_ORDER = ("lcb-rb", "judgebench", "rewardbench2", "rm-bench", "rewardbench", "pairs")


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
    for name in DETECTION_ORDER:
        fmt = BENCHMARK_FORMATS.get(name)
        if all(k in obj for k in fmt.required):
            return fmt
    raise DataError(f"{where}: cannot tell the benchmark format from keys {sorted(obj)}; "
                    f"known formats: {', '.join(DETECTION_ORDER)} (see pgrpo.rm.benchmarks)")


def load_benchmark(path: str | Path, format: str | None = None, subsets: Sequence[str] | None = None,
                   excluded: list[BadLine] | None = None) -> tuple[BenchmarkFormat, list[EvalPair]]:
    """Read a benchmark file; `subsets` keeps rows whose subset matches any glob pattern; rows the
    format leaves out (ExcludedRow) are appended to `excluded` when given."""
    fmt = None
    if format is not None:
        try:
            fmt = BENCHMARK_FORMATS.lookup(format)
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
