"""`decode_private_tests`: LiveCodeBench private tests (base64 -> zlib -> pickle -> JSON) decoded
without running anything: a pickle can make the unpickler call any importable callable, so every
global is refused (plain data needs none) and the result's types are checked recursively.
Does NOT protect against resource exhaustion by a huge or deeply nested payload (zlib output is
capped at MAX_DECOMPRESSED bytes; pickle nesting is bounded by Python's stack)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from typing import Any

from pgrpo.errors import DataError

MAX_DECOMPRESSED = 1 << 30  # 1 GiB: the largest LCB problems are a few hundred MB
_ALLOWED = (str, bytes, int, float, bool, type(None), list, dict, tuple)


class _DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global lookup (so no class or function is ever built)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"forbidden global {module}.{name}")


def _check_plain(value: Any, depth: int = 0) -> None:
    """Raise TypeError unless `value` is built only from the allowed plain types."""
    if depth > 200:
        raise TypeError("nesting deeper than 200 levels")
    if not isinstance(value, _ALLOWED):
        raise TypeError(f"disallowed type {type(value).__name__}")
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, depth + 1)


def decode_private_tests(value: Any, problem_id: str) -> list[Any]:
    """LCB `private_test_cases` (compressed, plain JSON text as some mirrors have, or already a list)
    -> list of test dicts. Anything else, a pickle naming any global included, is a DataError."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise DataError(f"problem {problem_id}: private_test_cases must be a string or list, "
                        f"got {type(value).__name__}")
    text = value.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            decoded: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"problem {problem_id}: private_test_cases is not valid JSON: {exc.msg}") from exc
    else:
        try:
            decompressor = zlib.decompressobj()
            raw = decompressor.decompress(base64.b64decode(text, validate=False), MAX_DECOMPRESSED)
            if decompressor.unconsumed_tail:
                raise ValueError(f"decompressed payload larger than {MAX_DECOMPRESSED} bytes")
        except (binascii.Error, zlib.error, ValueError) as exc:
            raise DataError(f"problem {problem_id}: private_test_cases is not base64+zlib data: {exc}") from exc
        try:
            # find_class refuses all globals
            decoded = _DataOnlyUnpickler(io.BytesIO(raw)).load()  # noqa: S301
            _check_plain(decoded)
        except (pickle.UnpicklingError, TypeError, EOFError, ValueError, IndexError, KeyError,
                AttributeError, RecursionError, MemoryError) as exc:
            raise DataError(f"problem {problem_id}: rejected private_test_cases pickle payload "
                            f"(only plain data is allowed): {exc}") from exc
        if isinstance(decoded, bytes):
            decoded = decoded.decode("utf-8", errors="replace")
        if isinstance(decoded, str):
            try:
                decoded = json.loads(decoded)
            except json.JSONDecodeError as exc:
                raise DataError(f"problem {problem_id}: decoded private_test_cases is not JSON: "
                                f"{exc.msg}") from exc
    if not isinstance(decoded, list):
        raise DataError(f"problem {problem_id}: private_test_cases must decode to a list, "
                        f"got {type(decoded).__name__}")
    return decoded
