"""A problem's own test code: run in a jailed "check" runner (`run_checker`), or parsed (`literal_tests`).

That code is as untrusted as the program. `run_checker` runs it in a runner of its own (child.py: own
pid and ipc namespaces, no writable filesystem, cwd /), forked fresh per job, calling the program's
"serve-checked" runner over their own pipe pair (fd 5 to it, 6 from it) with plain values only
(codec.py), so a lying `__eq__` cannot cross; a program fault (death, memory, a bad value or message)
sticks: later calls raise it and the test's report names it, whatever the test code catches. With the
worker (fd 3 in, fd 4 out): {"t": "ready"} or {"t": "setup", "msg"}; per {"t": "run", "i", "names"},
{"t": "test", "i", "status", "detail"[, "type", "msg"]}; status "program" adds "fault", "name".
`literal_tests` (in the worker) reads tests that are only literal asserts (docs/sandbox-rules.md) with
`ast`, never running them; the harness makes the same calls and applies the same operators, with the
jailed route's status and detail (tests/sandbox/test_literal_tests.py). Anything else is jailed.
Does NOT protect against anything itself: a lying checker misjudges only its own job.
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.sandbox import codec

TEST_SOURCE = "<tests>"
ASSERT_SOURCE = "<assert>"


class _NotPlainArguments(BaseException):
    """The test code called the program with arguments that cannot cross the wire."""


class _ProgramFault(BaseException):
    """The program cannot go on (see the module docstring); reported instead of the outcome."""

    def __init__(self, fault: str, detail: str, name: str) -> None:
        super().__init__(detail)
        self.report = {"status": "program", "fault": fault, "detail": detail[:300], "name": name[:100]}


class _Program:
    """The test code's end of the pipe pair to the program; remembers the first fault."""

    MAX_REPLY = 64 << 20  # as the worker's own cap on a message (session.MAX_MESSAGE)

    def __init__(self) -> None:
        self.replies = open(6, "rb", closefd=False)  # noqa: SIM115
        self.fault: _ProgramFault | None = None

    def call(self, name: str, args_wire: Any) -> Any:
        if self.fault is not None:
            raise self.fault
        try:
            self._send(name, args_wire)
            return self._reply(name)
        except _ProgramFault as fault:
            self.fault = fault
            raise

    def _send(self, name: str, args_wire: Any) -> None:
        try:
            codec.send({"name": name, "cls": None, "args": args_wire}, 5)
        except OSError:
            raise _ProgramFault("gone", "", name) from None

    def _reply(self, name: str) -> Any:
        line = self.replies.readline(self.MAX_REPLY + 1)
        if not line.endswith(b"\n"):
            if len(line) > self.MAX_REPLY:
                raise _ProgramFault("output_exceeded", "return value too large", name)
            raise _ProgramFault("gone", "", name)
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError, MemoryError):
            reply = None
        try:
            return codec.decode_reply(reply)  # codec.CandidateError: the test code may catch it
        except codec.ReplyFault as fault:
            raise _ProgramFault(fault.args[0], fault.args[1], name) from None


class _SetupFailed(Exception):
    """Code the tests need (setup code, the test file) raised while loading: a broken problem."""


def _build_namespace(sources: list[tuple[str, str, bool]]) -> dict[str, Any]:
    """Run (label, source, may_fail) in order in one namespace. Only starter code may fail:
    a starter stub (e.g. a bare class skeleton) need not run alone, but setup code and test
    code that do not load leave no test to run."""
    ns: dict[str, Any] = {"__name__": "__harness__", "__builtins__": builtins}
    for label, source, may_fail in sources:
        if not source.strip():
            continue
        try:
            exec(compile(source, TEST_SOURCE, "exec"), ns)  # noqa: S102 - the problem's test code, in the jail
        except BaseException as exc:  # noqa: BLE001 - whatever it raised (SystemExit too), reported or skipped
            if not may_fail:
                raise _SetupFailed(f"{label} failed to load: {type(exc).__name__}: {exc}"[:300]) from None
    return ns


def _proxy(name: str, program: _Program) -> Callable[..., Any]:
    def candidate(*args: Any) -> Any:
        try:
            wire = codec.to_wire(tuple(args))
        except codec.NotPlainError as exc:
            raise _NotPlainArguments(f"test arguments are not plain data: {exc}") from None
        return program.call(name, wire)

    candidate.__name__ = name
    return candidate


def _run(test: Callable[[], None], source: str) -> dict[str, Any]:
    try:
        test()
    except _ProgramFault as fault:
        return fault.report
    except _NotPlainArguments as exc:
        return {"status": "sandbox_error", "detail": str(exc)}
    except codec.CandidateError as exc:
        return {"status": "runtime_error", "detail": str(exc), "type": exc.type_name, "msg": exc.msg}
    except AssertionError as exc:
        return {"status": "failed", "detail": assertion_detail(str(exc), source)}
    except BaseException as exc:  # noqa: BLE001 - test code raising (even SystemExit) on a wrong answer fails
        return {"status": "failed", "detail": f"{type(exc).__name__}: {exc}"}
    return {"status": "passed", "detail": ""}


def run_checker(payload: str, send: Callable[[dict[str, Any]], None]) -> None:
    """Main of a "check" runner: load the problem's test code, then run tests on request."""
    data = json.loads(payload)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - test code's prints are not output
    requests = open(3, "rb", closefd=False)  # noqa: SIM115
    program = _Program()
    kind, entry_point = data["kind"], data["entry_point"]
    sources = [("setup code", data["setup_code"], False)]
    if kind == "humaneval":
        sources += [("starter code", data["starter_code"], True), ("test code", data["test_code"], False)]
    try:
        ns = _build_namespace(sources)
    except _SetupFailed as exc:
        send({"t": "setup", "msg": str(exc)})
        return
    tests: list[tuple[Callable[[], None], str]]
    if kind == "humaneval":
        check = ns.get("check")
        if not callable(check):
            send({"t": "setup", "msg": "test code defines no check(candidate)"})
            return
        proxy = _proxy(entry_point, program)
        ns[entry_point] = proxy  # checks may call the entry point by name (HumanEval/33)
        tests = [(lambda: check(proxy), "")]
    else:
        def run_assert(source: str) -> Callable[[], None]:
            return lambda: exec(compile(source, ASSERT_SOURCE, "exec"), ns)  # noqa: S102 - test code, in the jail

        tests = [(run_assert(source), source) for source in data["asserts"]]
    send({"t": "ready"})
    for line in requests:
        request = json.loads(line)
        i = int(request["i"])
        program.fault = None  # sticky within a test; after a value fault both sides are still in step
        for name in request.get("names", []):
            # The program's functions the asserts call (the entry point always: a decorated one,
            # e.g. @lru_cache, is not in the program's plain-function list). Setup code's names win,
            # and so do builtins: a program's `def set(...)` must not answer for the test's own calls.
            if name not in ns and (name == entry_point or not hasattr(builtins, name)):
                ns[name] = _proxy(name, program)
        result = _run(*tests[i])
        send({"t": "test", "i": i, **(program.fault.report if program.fault is not None else result)})


def assertion_detail(message: str, source: str) -> str:
    """A failed assert's detail; a message-less one names its source (asserts kind)."""
    detail = f"assertion failed {message}".rstrip()
    return detail + f": {source[:300]}" if detail == "assertion failed" and source else detail


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
