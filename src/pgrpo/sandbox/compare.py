"""Output comparison rules (docs/sandbox-rules.md): `stdout_matches`, `values_match`, `to_plain`.

Pure, stdlib-only functions the trusted harness calls on values from untrusted code; they never call a
method of a value that is not an exact builtin. Does NOT protect against a candidate tampering with the
interpreter (builtins, `math`, `decimal`) before the comparison: comparing outside its process does.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

# Default float tolerance for call-based outputs when the problem gives no `atol`.
DEFAULT_REL_TOL = 1e-6
DEFAULT_ABS_TOL = 1e-9
# Relative part added to an explicit `atol` (EvalPlus' assert_allclose uses rtol=1e-7).
ATOL_REL_TOL = 1e-7
# Nesting deeper than this is refused by to_plain (no recursion bombs). Equal to
# codec.MAX_DEPTH, so every value the wire accepts can be compared (kept stdlib-only here).
MAX_DEPTH = 200
# More container items than this in one value is refused (no shared-node DAG blowups).
MAX_NODES = 1_000_000

# A finite decimal number token: optional sign, digits with optional fraction, optional
# exponent. Deliberately excludes "nan", "inf", "Infinity" and "1_000", which Decimal()
# would accept: those compare as plain strings.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

_SCALARS = (type(None), bool, int, float, str, bytes, complex)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_NUMBERS = (int, float, complex)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _as_decimal(token: str) -> Decimal | None:
    if not _NUMBER.fullmatch(token):
        return None
    try:
        return Decimal(token)
    except InvalidOperation:  # an exponent beyond Decimal's limits
        return None


def _token_matches(actual: str, expected: str) -> bool:
    if actual == expected:
        return True
    a_num, e_num = _as_decimal(actual), _as_decimal(expected)
    return a_num is not None and a_num == e_num


def _line_matches(actual: str, expected: str) -> bool:
    a_tokens, e_tokens = actual.split(), expected.split()
    same_count = len(a_tokens) == len(e_tokens)
    return actual == expected or (same_count and all(map(_token_matches, a_tokens, e_tokens)))


def stdout_matches(actual: str, expected: str) -> bool:
    """LiveCodeBench's rule: stripped lines, equal in number; per line equal, or equal whitespace-split
    tokens, each equal or both finite decimals of exactly equal `Decimal` value (no float tolerance)."""
    actual_lines, expected_lines = _lines(actual), _lines(expected)
    return len(actual_lines) == len(expected_lines) and all(map(_line_matches, actual_lines, expected_lines))


class _Walk:
    """Budget for one traversal: refuses cycles, deep nesting and huge shared-node DAGs."""

    def __init__(self) -> None:
        self.nodes = 0
        self.stack: set[int] = set()

    def enter(self, value: Any, depth: int) -> None:
        self.nodes += 1
        if depth >= MAX_DEPTH or id(value) in self.stack or self.nodes > MAX_NODES:
            raise ValueError(
                f"value is self-referencing, nested deeper than {MAX_DEPTH} or has more than {MAX_NODES} nodes"
            )
        self.stack.add(id(value))


def _json_key(key: Any) -> Any:
    """The string JSON writes for a scalar dict key (1 -> "1", True -> "true"); bytes / complex stay."""
    if type(key) is bytes or type(key) is complex:
        return key
    return next(iter(json.loads(json.dumps({key: 0}))))


def to_plain(value: Any) -> Any:
    """`value` as JSON would round-trip it (tuples -> lists, scalar dict keys -> JSON strings, sets ->
    frozensets); TypeError naming a type that is not exactly a builtin (`type(x) is T`: a subclass with a
    lying `__eq__` is refused; no method of `value` is called), ValueError for cycles, depth or size."""
    return _plain(value, 0, _Walk())


def _plain(value: Any, depth: int, walk: _Walk) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind not in _CONTAINERS:
        raise TypeError(f"value of type {kind.__module__}.{kind.__qualname__} is not a plain builtin")
    walk.enter(value, depth)
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in dict.items(value):
            # JSON turns scalar keys into strings; tuple/frozenset keys (JSON can't write
            # them) stay hashable as tuples/frozensets of plain values.
            plain_key = _json_key(key) if type(key) in _SCALARS else _freeze(_plain(key, depth + 1, walk))
            out[plain_key] = _plain(item, depth + 1, walk)
        result: Any = out
    else:
        # Iterate through the exact builtin's own iterator: no user code can run.
        items = [_plain(item, depth + 1, walk) for item in kind.__iter__(value)]
        if kind is list or kind is tuple:
            result = items
        else:
            result = frozenset(_freeze(item) for item in items)
    walk.stack.discard(id(value))
    return result


def _freeze(item: Any) -> Any:
    """Hashable stand-in for a plain list/dict inside a set (lists -> tuples)."""
    if type(item) is list:
        return tuple(_freeze(x) for x in item)
    if type(item) is dict:
        return frozenset((k, _freeze(v)) for k, v in item.items())
    return item


def _floats_close(actual: float, expected: float, atol: float | None) -> bool:
    if math.isnan(actual) or math.isnan(expected):
        return math.isnan(actual) and math.isnan(expected)
    if math.isinf(actual) or math.isinf(expected):
        return actual == expected
    if atol:  # EvalPlus treats atol == 0 on floats as 1e-6; we use the default below
        return abs(actual - expected) <= atol + ATOL_REL_TOL * abs(expected)
    return math.isclose(actual, expected, rel_tol=DEFAULT_REL_TOL, abs_tol=DEFAULT_ABS_TOL)


def _match(actual: Any, expected: Any, atol: float | None) -> bool:
    a_kind, e_kind = type(actual), type(expected)
    if a_kind is bool or e_kind is bool:  # True != 1 and False != 0.0
        return a_kind is e_kind and bool(actual == expected)
    if a_kind in _NUMBERS and e_kind in _NUMBERS:
        if a_kind is int and e_kind is int:
            return bool(actual == expected)
        if a_kind is complex or e_kind is complex:  # component-wise, each like a float
            a, e = complex(actual), complex(expected)
            return _floats_close(a.real, e.real, atol) and _floats_close(a.imag, e.imag, atol)
        return _floats_close(float(actual), float(expected), atol)
    if a_kind is not e_kind:
        return False
    if a_kind is list:
        return len(actual) == len(expected) and all(_match(a, e, atol) for a, e in zip(actual, expected))
    if a_kind is dict:
        return actual.keys() == expected.keys() and all(_match(actual[k], expected[k], atol) for k in expected)
    # None, str, frozenset: exact equality (set members are compared exactly)
    return bool(actual == expected)


def values_match(actual: Any, expected: Any, atol: float | None = None) -> bool:
    """Does a call-based output equal the expected one? Both sides through `to_plain` (not plain: no
    match), then: bool is its own type; int vs int exact; floats (and complex parts) close: |a - e| <=
    atol + 1e-7 * |e| for `atol` > 0 (EvalPlus), else math.isclose(rel_tol=1e-6, abs_tol=1e-9), NaN
    only NaN, inf only the same inf; lists element-wise, dicts by key set, then value-wise; sets, None,
    str and bytes exact."""
    try:
        actual_plain, expected_plain = to_plain(actual), to_plain(expected)
    except (TypeError, ValueError):
        return False
    return _match(actual_plain, expected_plain, atol)
