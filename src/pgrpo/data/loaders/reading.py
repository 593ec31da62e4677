"""Raw record sources: local JSON / JSONL / parquet files (gzip ok) and hub dataset ids.

Owns: `iter_records(source, split)` -> `Record`s tagged "FILE:LINE" (the JSONL line, or the
1-based record index for JSON arrays, parquet and hub datasets), and `is_local(source)`.
Hub ids go through `datasets.load_dataset`, imported lazily; the tests never touch the network.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pgrpo.data.io import iter_jsonl, open_text
from pgrpo.data.loaders.base import Record
from pgrpo.errors import DataError

PARQUET_SUFFIXES = (".parquet", ".pq")


def _suffixes(path: Path) -> list[str]:
    suffixes = [s.lower() for s in path.suffixes]
    return suffixes[:-1] if suffixes and suffixes[-1] == ".gz" else suffixes


def is_local(source: str) -> bool:
    """True for an existing file, or anything that looks like a path (so a typo isn't a hub id)."""
    path = Path(source)
    if path.exists():
        return True
    looks_like_file = bool(_suffixes(path)) and _suffixes(path)[-1] in (".json", ".jsonl", ".parquet", ".pq")
    return looks_like_file or source.startswith((".", "/", "~")) or source.count("/") > 1


def _is_json_array(path: Path) -> bool:
    """Peek at the first non-space character: '[' means a JSON array file."""
    with open_text(path) as handle:
        while True:
            chunk = handle.read(256)
            if not chunk:
                return False
            stripped = chunk.lstrip()
            if stripped:
                return stripped[0] == "["


def _iter_json_array(path: Path) -> Iterator[Record]:
    with open_text(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
    for index, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{path}:{index}: expected a JSON object, got {type(row).__name__}")
        yield Record(f"{path}:{index}", row, index)


def _iter_parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                table = pq.read_table(handle)
        else:
            table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on bad files
        raise DataError(f"{path}: cannot read parquet: {exc}") from exc
    offset = 0
    for batch in table.to_batches():
        for row in batch.to_pylist():
            offset += 1
            yield Record(f"{path}:{offset}", row, offset)


def _iter_local(path: Path) -> Iterator[Record]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffixes = _suffixes(path)
    if suffixes and suffixes[-1] in PARQUET_SUFFIXES:
        yield from _iter_parquet(path)
    elif _is_json_array(path):
        yield from _iter_json_array(path)
    else:
        for index, (lineno, row) in enumerate(iter_jsonl(path), start=1):
            yield Record(f"{path}:{lineno}", row, index)


def _load_hub(source: str, split: str) -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a hard dependency
        raise DataError(f"{source}: loading a hub dataset needs the `datasets` package") from exc
    try:
        return datasets.load_dataset(source, split=split)
    except (OSError, ValueError, ConnectionError) as exc:
        raise DataError(f"{source}: cannot load hub dataset (split {split!r}): {exc}") from exc


def _iter_hub(source: str, split: str) -> Iterator[Record]:
    dataset = _load_hub(source, split)
    for index, row in enumerate(dataset, start=1):
        yield Record(f"{source}[{split}]:{index}", row, index)


def iter_records(source: str, split: str | None = None, default_split: str = "test") -> Iterator[Record]:
    """Raw records of a local file or, when `source` is not a path, a hub dataset id.

    `split` selects the hub split (default `default_split`); local files have no splits.
    """
    if is_local(source):
        yield from _iter_local(Path(source).expanduser())
    else:
        yield from _iter_hub(source, split or default_split)


def first_record(source: str, split: str | None = None) -> Record:
    for record in iter_records(source, split):
        return record
    raise DataError(f"{source}: no records")
