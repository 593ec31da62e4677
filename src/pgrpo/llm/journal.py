"""A resumable per-item journal for long LLM pipelines (`pgrpo rm pairs`, `pgrpo bench build`).

Owns `Journal`: an append-only JSONL file with one record per finished item, keyed by a
field (e.g. the problem's task_id). Each append is flushed and fsync'd, so a killed run
keeps every finished item; on reopen a torn last line (the kill hit mid-write) is cut off,
and the file is never left with two records for one key. Items not in the journal are
the work that remains.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pgrpo.errors import DataError


class Journal:
    """Records keyed by `record[key]`; `done(k)` tells whether item k is finished."""

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = key
        self.records: dict[str, dict[str, Any]] = {}
        self.repaired = False  # True when a torn tail was cut off on open
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good_end = 0
        pos = 0
        lineno = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            lineno += 1
            if nl < 0:  # no newline: the last write was torn
                break
            raw = data[pos:nl]
            if raw.strip():
                try:
                    record = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    if data[nl + 1:].strip():  # damage in the middle is not a torn write
                        raise DataError(f"{self.path}:{lineno}: corrupt journal line: {exc}") from None
                    break
                if not isinstance(record, dict) or self.key not in record:
                    raise DataError(f"{self.path}:{lineno}: journal record without {self.key!r}")
                self.records.setdefault(str(record[self.key]), record)
            pos = nl + 1
            good_end = pos
        if good_end < len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())
            self.repaired = True

    def done(self, item_key: str) -> bool:
        return str(item_key) in self.records

    def append(self, record: dict[str, Any]) -> None:
        """Add one finished item (ignored if its key is already journaled)."""
        item_key = str(record[self.key])
        if item_key in self.records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self.records[item_key] = record

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())
