"""Wire format of values crossing the trust boundary: `to_wire` / `from_wire`, exact builtin types only,
`decode_reply`, the one reading of a runner's reply to a call (harness and test code alike), and `send`,
the runners' one way to write a JSON line to a pipe.

Refuses anything else, subclasses of int/list/... included (`NotPlainError`: an always-True `__eq__`
cannot cross); type-preserving (tuples stay tuples); decoding builds fresh builtins. JSON with one-key
objects for containers: {"l"|"t"|"s"|"f": [...]}, {"d": [[k, v], ...]}, {"b": hex}, {"c": [re, im]}.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 200
# Built once, in the spawner before it forks: json.dumps(..., separators=...) would build one per message.
ENCODE = json.JSONEncoder(separators=(",", ":")).encode


class NotPlainError(TypeError):
    """The value is not made only of exact builtin types."""


class CandidateError(Exception):
    """The program raised an exception (re-raised on the caller's side; test code may catch it)."""

    def __init__(self, type_name: str, msg: str) -> None:
        super().__init__(f"{type_name}: {msg}")
        self.type_name, self.msg = type_name, msg


class ReplyFault(Exception):
    """args (status, detail): a reply that ends the test with that Status value (a bad value, MemoryError)."""


_COLLECTIONS = ((list, "l"), (tuple, "t"), (set, "s"), (frozenset, "f"))


def _enc(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlainError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is int or t is float or t is str:
        return value
    for kind, tag in _COLLECTIONS:  # identity tests only: the value's type is never hashed
        if t is kind:
            return {tag: [_enc(v, depth + 1) for v in value]}
    if t is dict:
        return {"d": [[_enc(k, depth + 1), _enc(v, depth + 1)] for k, v in value.items()]}
    if t is bytes:
        return {"b": value.hex()}
    if t is complex:
        return {"c": [value.real, value.imag]}
    raise NotPlainError(f"non-plain type {t.__module__}.{t.__qualname__}")


# A set or dict whose distinct members share hashes takes time quadratic in the members per hash
# to build (a hostile program can send multiples of 2**61 - 1, whose int hashes all equal 0). The
# trusted side counts the hashes first, in linear time, and refuses members whose collisions would
# cost more than a small multiple of their number (sum over hashes of count^2).
COLLISION_SLACK = 256


def _hashable_members(members: list[Any]) -> list[Any]:
    if len(members) > 16:
        counts = Counter(hash(m) for m in members)
        if sum(c * c for c in counts.values()) > 4 * len(members) + COLLISION_SLACK:
            raise ValueError(f"{len(members)} set members or dict keys share hashes (hash flooding)")
    return members


_CONTAINER_DECODERS: dict[str, Callable[[Any], Any]] = {
    "l": lambda items: [_dec(v) for v in items],
    "t": lambda items: tuple(_dec(v) for v in items),
    "s": lambda items: set(_hashable_members([_dec(v) for v in items])),
    "f": lambda items: frozenset(_hashable_members([_dec(v) for v in items])),
    "d": lambda items: dict(zip(_hashable_members([_dec(k) for k, _ in items]), [_dec(v) for _, v in items])),
    "b": lambda text: bytes.fromhex(text),
    "c": lambda pair: complex(float(pair[0]), float(pair[1])),
}


def _dec(data: Any) -> Any:
    t = type(data)
    if data is None or t is bool or t is int or t is float or t is str:
        return data
    if t is dict and len(data) == 1:
        ((tag, payload),) = data.items()
        decoder = _CONTAINER_DECODERS.get(tag)
        if decoder is not None:
            return decoder(payload)
    raise ValueError(f"malformed encoded value of type {t.__name__}")


def to_wire(value: Any) -> Any:
    """Value -> JSON-able structure; NotPlainError for anything not exactly builtin."""
    return _enc(value, 0)


def from_wire(data: Any) -> Any:
    """Inverse of `to_wire`. Anything malformed - however it fails to decode (a bad complex, an int
    too long to convert, members that cannot be hashed...) - is a ValueError: callers judging a
    hostile program's reply catch exactly that."""
    try:
        return _dec(data)
    except ValueError:
        raise
    except (TypeError, KeyError, IndexError, OverflowError, AttributeError, RecursionError) as exc:
        raise ValueError(f"malformed encoded value: {type(exc).__name__}: {exc}"[:300]) from None


def decode_reply(reply: Any) -> Any:
    """The value of a runner's reply to a call ({"t": "ret", "v"}); CandidateError for the program's
    exception ({"t": "exc"}), ReplyFault for anything else (a value that does not decode, a non-plain
    one, MemoryError, any other message or a non-dict)."""
    kind = reply.get("t") if isinstance(reply, dict) else "garbage"
    if kind == "ret":
        try:
            return from_wire(reply["v"])
        except (Exception, MemoryError):  # noqa: BLE001 - however it fails, the program's fault
            raise ReplyFault("failed", "malformed return value") from None
    if kind == "bad":
        raise ReplyFault("failed", str(reply.get("msg", "returned non-plain type")))
    if kind == "exc" and reply.get("memory"):
        raise ReplyFault("memory_exceeded", "MemoryError")
    if kind == "exc":
        raise CandidateError(str(reply.get("type")), str(reply.get("msg")))
    raise ReplyFault("runtime_error", f"unexpected message from program: {str(kind)[:50]}")


def send(msg: dict[str, Any], fd: int = 4) -> None:
    """`msg` as one JSON line, written whole to `fd` (by default a runner's status pipe to the harness)."""
    view = memoryview((ENCODE(msg) + "\n").encode())
    while view:
        view = view[os.write(fd, view):]
