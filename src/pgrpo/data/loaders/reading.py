"""Raw records (`iter_records`) of local JSON / JSONL / parquet files (gzip ok) or hub dataset ids
(`datasets.load_dataset`), tagged "FILE:LINE" (the JSONL line, else the 1-based record index)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pgrpo.data.io import iter_jsonl, open_text
from pgrpo.data.loaders.base import Record
from pgrpo.errors import DataError
from pgrpo.paths import is_local_path

PARQUET_SUFFIXES = (".parquet", ".pq")


def _suffixes(path: Path) -> list[str]:
    suffixes = [s.lower() for s in path.suffixes]
    return suffixes[:-1] if suffixes and suffixes[-1] == ".gz" else suffixes


def _json_document(path: Path) -> list[Any] | None:
    """The rows of a one-document JSON file (an array, or in a `.json` file an object holding exactly
    one array of objects, as `{"data": [...]}` dumps), else None: read as JSONL."""
    with open_text(path) as handle:
        text = ""
        while not text.strip() and (chunk := handle.read(256)):
            text += chunk
        first = text.lstrip()[:1]
        if first != "[" and not (first == "{" and _suffixes(path)[-1:] == [".json"]):
            return None
        text += handle.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if first == "{":
            return None  # several objects: JSONL, whose reader reports bad lines
        raise DataError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        return lists[0] if len(lists) == 1 else None
    return data if isinstance(data, list) else None


def _iter_parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                table = pq.read_table(handle)
        else:
            table = pq.read_table(path)  # by path: pyarrow reads it natively
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on bad files
        raise DataError(f"{path}: cannot read parquet: {exc}") from exc
    rows = (row for batch in table.to_batches() for row in batch.to_pylist())  # a batch at a time
    for index, row in enumerate(rows, start=1):
        yield Record(f"{path}:{index}", row, index)


def _iter_local(path: Path) -> Iterator[Record]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffixes = _suffixes(path)
    if suffixes and suffixes[-1] in PARQUET_SUFFIXES:
        yield from _iter_parquet(path)
    elif (document := _json_document(path)) is not None:
        for index, row in enumerate(document, start=1):
            if not isinstance(row, dict):
                raise DataError(f"{path}:{index}: expected a JSON object, got {type(row).__name__}")
            yield Record(f"{path}:{index}", row, index)
    else:
        for index, (lineno, row) in enumerate(iter_jsonl(path), start=1):
            yield Record(f"{path}:{lineno}", row, index)


def _iter_hub(source: str, split: str) -> Iterator[Record]:
    import datasets  # a hard dependency, imported lazily: it is slow to import

    try:
        dataset = datasets.load_dataset(source, split=split)
    except (OSError, ValueError, ConnectionError) as exc:
        raise DataError(f"{source}: cannot load hub dataset (split {split!r}): {exc}") from exc
    for index, row in enumerate(dataset, start=1):
        yield Record(f"{source}[{split}]:{index}", row, index)


def iter_records(source: str, split: str | None = None, default_split: str = "test") -> Iterator[Record]:
    """Raw records of a local file or, when `source` is not a path, a hub dataset's `split`."""
    if is_local_path(source):
        yield from _iter_local(Path(source).expanduser())
    else:
        yield from _iter_hub(source, split or default_split)


def first_record(source: str, split: str | None = None) -> Record:
    for record in iter_records(source, split):
        return record
    raise DataError(f"{source}: no records")
