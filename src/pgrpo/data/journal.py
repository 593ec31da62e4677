"""`Journal`: the append-only, fsync'd JSONL file every long job records its finished items in, so a
killed run resumes with what remains. On open, a torn last line (a kill mid-write) is cut off, or
completed when it is a whole record; `retain` rewrites the file atomically keeping some records."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

from pgrpo.data.io import BadLine, append_jsonl, write_jsonl
from pgrpo.errors import DataError

Record = dict[str, Any]
KeyOf = Callable[[Record], Hashable]


class Journal:
    """Records in file order; with a `key` (a field name or a function of the record), one per key:
    the first (`replace=False`: a finished item is never redone) or the latest. A damaged line before
    the tail, or a record without a key, is a DataError naming file and line (`strict`), else skipped
    with a warning and listed in `bad_lines`."""

    def __init__(self, path: str | Path, key: str | KeyOf | None = None, *, replace: bool = False,
                 strict: bool = True) -> None:
        self.path = Path(path)
        # A field's value is keyed as a string, so done(3) and done("3") agree.
        self._key: KeyOf | None = (lambda record: str(record[key])) if isinstance(key, str) else key
        self._by_field = isinstance(key, str)
        self.replace = replace
        self.strict = strict
        self._records: dict[Hashable, Record] = {}
        self.bad_lines: list[BadLine] = []
        self.repaired = False  # True when a torn tail was cut off (or completed) on open
        self._load()

    def _key_of(self, record: Record) -> Hashable:
        return len(self._records) if self._key is None else self._key(record)

    def _keep(self, record: Record, item_key: Hashable) -> bool:
        if item_key in self._records and not self.replace:
            return False
        self._records[item_key] = record
        return True

    def _bad(self, lineno: int, reason: str) -> None:
        bad = BadLine(str(self.path), lineno, reason)
        if self.strict:
            raise DataError(str(bad))
        self.bad_lines.append(bad)
        warnings.warn(f"skipping {bad}", stacklevel=3)

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        for lineno, raw in enumerate(data[:end].splitlines(), start=1):
            if raw.strip():
                self._read_line(lineno, raw)
        if end < len(data):
            self._repair_tail(data[end:], data.count(b"\n") + 1, end)

    def _read_line(self, lineno: int, raw: bytes) -> None:
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._bad(lineno, f"corrupt journal line: {exc}")
        if not isinstance(record, dict):
            return self._bad(lineno, f"expected a JSON object, got {type(record).__name__}")
        try:
            item_key = self._key_of(record)
        except (KeyError, TypeError, ValueError) as exc:
            return self._bad(lineno, f"journal record without a key ({exc!r})")
        self._keep(record, item_key)

    def _repair_tail(self, tail: bytes, lineno: int, end: int) -> None:
        try:
            whole = isinstance(json.loads(tail), dict)
        except (UnicodeDecodeError, json.JSONDecodeError):
            whole = False
        with self.path.open("r+b") as handle:
            if whole:  # a complete record only missing its newline (written by another tool)
                handle.seek(0, os.SEEK_END)
                handle.write(b"\n")
            else:
                handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
        self.repaired = True
        if whole:
            self._read_line(lineno, tail)
        else:
            warnings.warn(f"{self.path}:{lineno}: dropped a half-written last line (interrupted run)",
                          stacklevel=3)

    def done(self, item_key: Hashable) -> bool:
        return self.get(item_key) is not None

    def get(self, item_key: Hashable) -> Record | None:
        return self._records.get(str(item_key) if self._by_field else item_key)

    def append(self, record: Record) -> bool:
        """Add one finished item, fsync'd; False (nothing written) if its key is already done."""
        if not self._keep(record, self._key_of(record)):
            return False
        append_jsonl(self.path, record)
        return True

    def retain(self, keep: Callable[[Record], bool]) -> int:
        """Keep only records where `keep(record)`; atomic rewrite; returns how many remain."""
        kept = [record for record in self._records.values() if keep(record)]
        self._records = {}
        for record in kept:
            self._keep(record, self._key_of(record))
        if self.path.exists() or kept:
            write_jsonl(self.path, kept)
        return len(kept)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._records.values()))

