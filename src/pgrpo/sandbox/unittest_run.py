"""The jailed side of the "unittest" test kind (BigCodeBench): run a TestCases suite next to the program.

Owns `run_unittest(payload, report_fd, flush)`, the runner child.py starts for mode
"unittest", and `pack_payload`, the harness's half of its input. BigCodeBench's tests patch
modules, write files and inspect the Axes / DataFrames a function returns, so they cannot
call the program through a proxy as the other kinds do: like the benchmark's own harness
(bigcodebench.eval.unsafe_execute), the program and the test module are compiled as ONE
module `__test__` (program + "\\n" + tests) and the suite runs in the same jailed process.
The environment follows that harness: TZ=UTC, the cwd a fresh writable directory (the
runner's private tmpfs, or a per-job temp dir without isolation), stdout/stderr swallowed,
builtins exit/quit set to None; plots use matplotlib's Agg backend.

Each test's outcome goes to the harness as a control message {"t": "test", "name", "ok",
"skip", "memory", "msg"}, then {"t": "done"}. The trusted harness (harness.run_unittest)
decides the verdict from those: it knows the test methods from the trusted test code, which
of them may skip, and stdout is never read.

Hardening against model code forging a pass (it shares this process with the tests):
before the program runs, the report pipe moves from the well-known fd 4 to a random high fd
(fd 4 and the request fd 3 are closed), every pgrpo module is dropped from sys.modules, and
`_Guard` snapshots unittest's classes (TestCase, TestResult, TestSuite, TextTestRunner,
TestLoader...), their functions' code objects, the builtins and this runner's reporter;
before every report and before "done" it checks the snapshot, that no trace / profile /
monitoring hook is set, and that the test instance does not shadow a method of its class.
Any mismatch sends {"t": "tamper"}, which fails the job (fail closed).

Does NOT protect against: a determined forger. Code in this process can always find the
report fd (/proc/self/fd), the sender in a caller's frame, or patch something the guard does
not snapshot; in-process tests can never be fully protected. Hence training refuses the
unittest kind unless a recipe opts in (`data.allow_unittest`). The jail around the process
still holds.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import random
import resource
import sys
import time
import types
from collections.abc import Callable
from typing import Any

DETAIL_CHARS = 500  # traceback tail kept per failing test
REPORT_FD = 4  # where child.py puts the report pipe; moved away before model code runs
SENDER_FD = 3  # the request pipe (unused in this mode): closed too


def pack_payload(program: str, test_code: str, names: tuple[str, ...] | list[str]) -> str:
    """The runner's input for one job: the program, the trusted test module and its test methods."""
    return json.dumps({"program": program, "tests": test_code, "names": list(names)})


class _Sink(io.StringIO):
    """Swallowed output (BigCodeBench's WriteOnlyStringIO): writes vanish, reads fail."""

    def write(self, text: str) -> int:
        return len(text)

    def read(self, size: int | None = -1, /) -> str:
        raise OSError("stdin is not readable")

    def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
        raise OSError("stdin is not readable")

    def readable(self) -> bool:
        return False


def _tail(text: str) -> str:
    return text[-DETAIL_CHARS:]


def _hide_report_fd() -> int:
    """Move the report pipe to a random high fd and close the well-known ones; the new fd."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    top = soft if 0 < soft < 1 << 16 else 1 << 10
    low = max(16, top // 4)
    fd = os.dup2(REPORT_FD, random.SystemRandom().randrange(low, top), inheritable=False)
    for old in (REPORT_FD, SENDER_FD):
        try:
            os.close(old)
        except OSError:
            pass
    return fd


def _sender(fd: int) -> Callable[[dict], None]:
    write, encode = os.write, json.JSONEncoder(separators=(",", ":")).encode  # bound before model code runs

    def send(msg: dict) -> None:
        view = memoryview((encode(msg) + "\n").encode())
        while view:
            view = view[write(fd, view):]

    return send


def _drop_pgrpo_modules() -> None:
    """Model code cannot reach the runner's modules (runners._send...) through sys.modules."""
    for name in [n for n in sys.modules if n == "pgrpo" or n.startswith("pgrpo.")]:
        del sys.modules[name]


def _identity(value: Any) -> tuple[int, ...]:
    """The object, its code object and what its closure cells hold (all can be swapped)."""
    func = getattr(value, "__func__", value)
    cells = []
    for cell in getattr(func, "__closure__", None) or ():
        try:
            cells.append(id(cell.cell_contents))
        except ValueError:  # an empty cell
            cells.append(0)
    return (id(value), id(getattr(func, "__code__", None)), *cells)


class _Guard:
    """Snapshot of what decides a test's outcome; `problem()` names what changed since."""

    def __init__(self, unittest: types.ModuleType, extra: tuple[type, ...]) -> None:
        import unittest.case
        import unittest.result
        import unittest.suite

        self._classes = (unittest.TestCase, unittest.TestResult, unittest.TestSuite, unittest.suite.BaseTestSuite,
                         unittest.TextTestRunner, unittest.TestLoader, unittest.case._Outcome,
                         unittest.case._SubTest, unittest.SkipTest, *extra)
        self._modules = (unittest, unittest.case, unittest.result, unittest.suite, builtins)
        self._snapshot = self._take()
        self._gettrace, self._getprofile = sys.gettrace, sys.getprofile
        monitoring = getattr(sys, "monitoring", None)
        self._get_tool = getattr(monitoring, "get_tool", None)

    @staticmethod
    def _watched(owner: Any) -> dict[tuple[int, str], tuple[int, ...]]:
        """Identities of `owner`'s code: functions, classes, descriptors (data such as maxDiff may change)."""
        return {(id(owner), name): _identity(value) for name, value in list(vars(owner).items())
                if callable(value) or isinstance(value, (classmethod, staticmethod, property))}

    def _take(self) -> dict[tuple[int, str], tuple[int, ...]]:
        snap: dict[tuple[int, str], tuple[int, ...]] = {}
        for owner in (*self._classes, *self._modules):
            snap.update(self._watched(owner))
        return snap

    def add(self, cls: type) -> None:
        """Also watch `cls` (the trusted TestCases, once defined)."""
        self._classes = (*self._classes, cls)
        self._snapshot.update(self._watched(cls))

    def problem(self, test: Any = None) -> str:
        if self._gettrace() is not None or self._getprofile() is not None:
            return "a trace or profile function is set"
        if self._get_tool is not None and any(self._get_tool(i) is not None for i in range(6)):
            return "a sys.monitoring tool is registered"
        now = self._take()
        for key, ident in self._snapshot.items():
            if now.get(key) != ident:
                owner = next((o for o in (*self._classes, *self._modules) if id(o) == key[0]), None)
                return f"{getattr(owner, '__name__', '?')}.{key[1]} was changed"
        if test is not None:
            cls = type(test)
            for name in list(vars(test)):
                if callable(getattr(cls, name, None)):
                    return f"the test instance shadows {cls.__name__}.{name}"
        return ""


def _test_name(test: Any) -> str:
    """The test method's name (a subtest reports as its test; a class or module fixture as itself)."""
    test = getattr(test, "test_case", test)
    name = getattr(test, "_testMethodName", None)
    return name if isinstance(name, str) else f"<{type(test).__name__}: {str(test)[:100]}>"


def _reporter(send: Callable[[dict], None], check: Callable[[Any], None]):
    import unittest

    class Reporter(unittest.TestResult):
        """Sends one message per test (a failing subtest fails its test)."""

        def _report(self, test: Any, ok: bool, msg: str = "", skip: bool = False, err: Any = None) -> None:
            check(getattr(test, "test_case", test))
            memory = err is not None and isinstance(err[0], type) and issubclass(err[0], MemoryError)
            send({"t": "test", "name": _test_name(test), "ok": ok, "skip": skip, "memory": memory, "msg": _tail(msg)})

        def addSuccess(self, test):  # noqa: N802 - unittest's API
            super().addSuccess(test)
            self._report(test, True)

        def addFailure(self, test, err):  # noqa: N802
            super().addFailure(test, err)
            self._report(test, False, self.failures[-1][1], err=err)

        def addError(self, test, err):  # noqa: N802
            super().addError(test, err)
            self._report(test, False, self.errors[-1][1], err=err)

        def addSubTest(self, test, subtest, err):  # noqa: N802
            super().addSubTest(test, subtest, err)
            if err is not None:
                failed = isinstance(err[0], type) and issubclass(err[0], test.failureException)
                self._report(test, False, (self.failures if failed else self.errors)[-1][1], err=err)

        def addSkip(self, test, reason):  # noqa: N802 - the harness decides whether this skip may pass
            super().addSkip(test, reason)
            self._report(test, False, f"skipped: {reason}", skip=True)

        def addExpectedFailure(self, test, err):  # noqa: N802 - as BigCodeBench: only failures and errors fail
            super().addExpectedFailure(test, err)
            self._report(test, True)

        def addUnexpectedSuccess(self, test):  # noqa: N802
            super().addUnexpectedSuccess(test)
            self._report(test, True)

    return Reporter


def run_unittest(payload: str, report_fd: int, flush: Callable[[], None]) -> None:
    """Compile program + tests as module `__test__`, run TestCases' named tests, report each test."""
    import unittest

    data = json.loads(payload)
    send = _sender(_hide_report_fd() if report_fd == REPORT_FD else report_fd)
    _drop_pgrpo_modules()
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ["MPLBACKEND"] = "Agg"
    try:
        code = compile(data["program"] + "\n" + data["tests"], "__test__.py", "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        send({"t": "syntax", "msg": f"{type(exc).__name__}: {exc}"[:500]})
        return
    module = types.ModuleType("__test__")
    module.__dict__.update({"__builtins__": builtins, "__file__": "__test__.py", "__package__": None,
                            "__doc__": None, "sys": sys, "os": os, "environ": os.environ})
    setattr(builtins, "exit", None)  # noqa: B010 - as BigCodeBench's reliability_guard
    setattr(builtins, "quit", None)  # noqa: B010
    def check(test: Any = None) -> None:
        problem = guard.problem(test)
        if problem:
            flush()
            send({"t": "tamper", "msg": f"the program changed the test machinery: {problem}"[:300]})
            os._exit(0)

    reporter_cls = _reporter(send, check)
    guard = _Guard(unittest, (reporter_cls,))

    base_case, suite_cls = unittest.TestCase, unittest.TestSuite
    sink = _Sink()
    sys.stdout = sys.stderr = sink
    sys.stdin = sink
    try:
        exec(code, module.__dict__)  # noqa: S102 - the untrusted program (and its tests), in the jail
        sys.modules["__test__"] = module
        cases = module.__dict__["TestCases"]
        if not (isinstance(cases, type) and issubclass(cases, base_case)):
            raise TypeError("TestCases is not a unittest.TestCase")
        check()
        guard.add(cases)
        suite = suite_cls([cases(name) for name in data["names"]])
    except BaseException as exc:  # noqa: BLE001 - anything while loading fails the whole job
        flush()
        send({"t": "load_exc", "type": type(exc).__name__, "msg": str(exc)[:300],
              "memory": isinstance(exc, MemoryError)})
        return
    result = reporter_cls()
    try:
        suite.run(result)
    except BaseException as exc:  # noqa: BLE001 - e.g. KeyboardInterrupt escapes unittest: the job fails
        flush()
        send({"t": "exc", "type": type(exc).__name__, "msg": str(exc)[:300], "memory": isinstance(exc, MemoryError)})
        return
    flush()
    check()
    send({"t": "done"})
