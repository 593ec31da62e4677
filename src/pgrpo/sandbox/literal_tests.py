"""Tests that are data written as code, read by parsing (`literal_tests`) and judged in the harness: no test runner.

Forms, in HumanEval's `def check(candidate)` (module level: only it, literal assignments, docstrings)
or an asserts entry: `assert f(<lit>, ...) == <lit>`, `is True|False|None`, `assert f(...)`, `assert
not f(...)`, `assert <lit>`, each with an optional string message; `f` the check's parameter or the
entry point (HumanEval), or a non-builtin name (asserts). Anything else, or any setup code, takes the
jailed route (checker.py), which gives the same status and detail (tests/sandbox/test_literal_tests.py).
Does NOT protect against anything itself: it runs no code (`ast.literal_eval`), the program stays
jailed, and a value that is not plain never reaches `==`. Parsed tests are frozen and cached.
"""

from __future__ import annotations

import ast
import builtins
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.sandbox.checker import assertion_detail

_PARSE_ERRORS = (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, OverflowError)
MAX_PARSED_CHARS = 64 << 10
_IS_CONSTANTS = (True, False, None)


class _NotLiteral(Exception):
    """The test is code, not data: it takes the jailed route."""


@dataclass(frozen=True)
class LiteralAssert:
    """One `assert` statement: an optional call of the program, an operator, what it expects."""

    name: str | None  # the program's function called; None for `assert <literal>`
    args: tuple[Any, ...]
    op: str  # "==", "is", "truthy" or "falsy"
    expected: Any
    message: str | None

    def holds(self, call: Callable[[str, tuple[Any, ...]], Any]) -> bool:
        value = self.expected if self.name is None else call(self.name, self.args)
        if self.op == "==":
            return bool(value == self.expected)
        if self.op == "is":
            return value is self.expected
        return bool(value) if self.op == "truthy" else not value


@dataclass(frozen=True)
class LiteralTest:
    """One test (a whole HumanEval check, or one asserts entry): its asserts in order."""

    asserts: tuple[LiteralAssert, ...]
    source: str  # named in the detail of a failing message-less assert ("asserts" kind)

    def run(self, call: Callable[[str, tuple[Any, ...]], Any]) -> tuple[bool, str]:
        """(passed, detail) as the jailed test code reports them (checker.py `_run`)."""
        for check in self.asserts:
            if not check.holds(call):
                return False, assertion_detail(check.message or "", self.source)
        return True, ""


def literal_tests(kind: str, test_code: str, asserts: Sequence[str], entry_point: str,
                  setup_code: str) -> tuple[LiteralTest, ...] | None:
    """The problem's tests as data, or None when any of them is code (the jailed route). Tests
    larger than MAX_PARSED_CHARS always take the jailed route: parsing runs in the worker, which
    has no rlimits (HumanEval's largest check has 1,804 characters)."""
    if len(test_code) + sum(len(a) for a in asserts) > MAX_PARSED_CHARS or entry_point.startswith("__"):
        return None  # dunder names: the jailed test code's namespace has its own (__name__, __builtins__)
    return _parsed(kind, test_code, tuple(asserts), entry_point, setup_code)


@functools.lru_cache(maxsize=256)  # a worker sees each problem many times (G samples, k passes)
def _parsed(kind: str, test_code: str, asserts: tuple[str, ...], entry_point: str,
            setup_code: str) -> tuple[LiteralTest, ...] | None:
    if setup_code.strip():
        return None
    try:
        if kind == "humaneval":
            return (LiteralTest(_humaneval_check(test_code, entry_point), ""),)
        if kind == "asserts":
            return tuple(LiteralTest(_asserts_entry(source, entry_point), source) for source in asserts)
    except (_NotLiteral, *_PARSE_ERRORS):
        return None
    return None


def _humaneval_check(test_code: str, entry_point: str) -> tuple[LiteralAssert, ...]:
    check: ast.FunctionDef | None = None
    for statement in ast.parse(test_code).body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "check" and check is None:
            check = statement  # one only: an earlier one could fail to load in the jailed route
        elif isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) and t.id != "check"
                                                         for t in statement.targets):
            _literal(statement.value)
        elif not _is_docstring(statement):
            raise _NotLiteral
    if check is None or check.decorator_list or _signature(check.args) is None:
        raise _NotLiteral
    parameter = _signature(check.args)

    def program_function(name: str) -> str | None:  # both name the entry point (checker.py's proxy)
        return entry_point if name in (parameter, entry_point) else None

    return tuple(_assert(s, program_function) for s in check.body if not _is_docstring(s))


def _asserts_entry(source: str, entry_point: str) -> tuple[LiteralAssert, ...]:
    body = ast.parse(source).body
    if not body:
        raise _NotLiteral

    def program_function(name: str) -> str | None:  # checker.py: builtins (and dunders) answer for themselves
        if name.startswith("__"):
            return None
        return name if name == entry_point or not hasattr(builtins, name) else None

    return tuple(_assert(s, program_function) for s in body)


def _signature(args: ast.arguments) -> str | None:
    """The name of check's one positional parameter, if that is all it takes."""
    if (len(args.args) == 1 and not args.posonlyargs and not args.kwonlyargs and not args.defaults
            and args.vararg is None and args.kwarg is None):
        return args.args[0].arg
    return None


def _assert(statement: ast.stmt, program_function: Callable[[str], str | None]) -> LiteralAssert:
    if not isinstance(statement, ast.Assert):
        raise _NotLiteral
    message = None
    if statement.msg is not None:
        message = _literal(statement.msg)
        if not isinstance(message, str):
            raise _NotLiteral
    test = statement.test
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        name, args = _call(test.operand, program_function)
        return LiteralAssert(name, args, "falsy", None, message)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        name, args = _call(test.left, program_function)
        expected = _literal(test.comparators[0])
        if isinstance(test.ops[0], ast.Eq):
            return LiteralAssert(name, args, "==", expected, message)
        if isinstance(test.ops[0], ast.Is) and any(expected is c for c in _IS_CONSTANTS):
            return LiteralAssert(name, args, "is", expected, message)
        raise _NotLiteral
    if isinstance(test, ast.Call):
        name, args = _call(test, program_function)
        return LiteralAssert(name, args, "truthy", None, message)
    return LiteralAssert(None, (), "truthy", _literal(test), message)


def _call(node: ast.expr, program_function: Callable[[str], str | None]) -> tuple[str, tuple[Any, ...]]:
    """The program's function a call names and its literal arguments."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords):
        raise _NotLiteral
    name = program_function(node.func.id)
    if name is None or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _NotLiteral
    return name, tuple(_literal(arg) for arg in node.args)


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except _PARSE_ERRORS:
        raise _NotLiteral from None


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
