"""JSONL reading (gz ok; errors name the file and line, or bad lines are collected), `append_jsonl`
(fsync'd per record) and atomic writes (`write_jsonl`, `write_text_atomic`: temp file + rename)."""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pgrpo.errors import DataError


@dataclass(frozen=True)
class BadLine:
    """A JSONL line that could not be used; `line` is 1-based."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def open_text(path: str | Path) -> TextIO:
    """Open a text file for reading, transparently gunzipping `*.gz`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open("r", encoding="utf-8")


def iter_jsonl(path: str | Path, bad_lines: list[BadLine] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) per non-blank line; a line that is not a JSON object is a
    DataError naming file and line, or, given `bad_lines`, recorded there and skipped."""
    with open_text(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                bad = BadLine(str(path), lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")
            else:
                if isinstance(obj, dict):
                    yield lineno, obj
                    continue
                bad = BadLine(str(path), lineno, f"expected a JSON object, got {type(obj).__name__}")
            if bad_lines is None:
                raise DataError(str(bad))
            bad_lines.append(bad)


def read_jsonl(path: str | Path, bad_lines: list[BadLine] | None = None) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path, bad_lines)]


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record and flush it to disk (resumable jobs call this per finished item)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def _atomic(path: str | Path) -> Iterator[TextIO]:
    """A temp file renamed to `path` when the block ends: readers see the old file or the new one, never
    half; a failed write leaves the old file (if any) untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            yield handle
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text_atomic(path: str | Path, text: str) -> None:
    with _atomic(path) as handle:
        handle.write(text)


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records atomically; returns the count."""
    count = 0
    with _atomic(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
