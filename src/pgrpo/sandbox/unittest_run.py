"""The jailed side of the "unittest" test kind (BigCodeBench): run a TestCases suite next to the program.

Owns `run_unittest(payload, send, flush)`, the runner child.py starts for mode "unittest",
and `pack_payload`, the harness's half of its input. BigCodeBench's tests patch modules,
write files and inspect the Axes / DataFrames a function returns, so they cannot call the
program through a proxy as the other kinds do: like the benchmark's own harness
(bigcodebench.eval.unsafe_execute), the program and the test module are compiled as ONE
module `__test__` (program + "\\n" + tests) and the suite runs in the same jailed process.
The environment follows that harness: TZ=UTC, the cwd a fresh writable directory (the
runner's private tmpfs), stdout/stderr swallowed, builtins exit/quit set to None; plots
use matplotlib's Agg backend.

Each test's outcome goes to the harness as a control message {"t": "test", "name", "ok",
"msg"}, then {"t": "done"}. The trusted harness (harness.run_unittest) decides the
verdict from those: it counts the test methods itself, and stdout is never read.

Does NOT protect against: model code in this process deliberately forging the control
messages or patching unittest (it shares the process with the tests, as it does in the
benchmark's own harness); the jail around the process still holds.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
import time
import types
from collections.abc import Callable

DETAIL_CHARS = 500  # traceback tail kept per failing test


def pack_payload(program: str, test_code: str) -> str:
    """The runner's input for one job: the program and the trusted test module."""
    return json.dumps({"program": program, "tests": test_code})


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


def _reporter(send: Callable[[dict], None]):
    import unittest

    class Reporter(unittest.TestResult):
        """Sends one message per test (a failing subtest fails its test)."""

        def _report(self, test: unittest.TestCase, ok: bool, msg: str = "") -> None:
            send({"t": "test", "name": test.id().rsplit(".", 1)[-1], "ok": ok, "msg": _tail(msg)})

        def addSuccess(self, test):  # noqa: N802 - unittest's API
            super().addSuccess(test)
            self._report(test, True)

        def addFailure(self, test, err):  # noqa: N802
            super().addFailure(test, err)
            self._report(test, False, self.failures[-1][1])

        def addError(self, test, err):  # noqa: N802
            super().addError(test, err)
            self._report(test, False, self.errors[-1][1])

        def addSubTest(self, test, subtest, err):  # noqa: N802
            super().addSubTest(test, subtest, err)
            if err is not None:
                self._report(test, False, (self.failures or self.errors)[-1][1])

        def addSkip(self, test, reason):  # noqa: N802 - BigCodeBench counts only failures and errors
            super().addSkip(test, reason)
            self._report(test, True, f"skipped: {reason}")

        def addExpectedFailure(self, test, err):  # noqa: N802
            super().addExpectedFailure(test, err)
            self._report(test, True)

        def addUnexpectedSuccess(self, test):  # noqa: N802
            super().addUnexpectedSuccess(test)
            self._report(test, True)

    return Reporter()


def run_unittest(payload: str, send: Callable[[dict], None], flush: Callable[[], None]) -> None:
    """Compile program + tests as module `__test__`, run its TestCases, report each test."""
    import unittest

    data = json.loads(payload)
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
    sink = _Sink()
    sys.stdout = sys.stderr = sink
    sys.stdin = sink
    try:
        exec(code, module.__dict__)  # noqa: S102 - the untrusted program (and its tests), in the jail
        sys.modules["__test__"] = module
        suite = unittest.TestLoader().loadTestsFromTestCase(module.__dict__["TestCases"])
    except BaseException as exc:  # noqa: BLE001 - anything while loading fails the whole job
        flush()
        send({"t": "load_exc", "type": type(exc).__name__, "msg": str(exc)[:300],
              "memory": isinstance(exc, MemoryError)})
        return
    try:
        suite.run(_reporter(send))
    except BaseException as exc:  # noqa: BLE001 - e.g. KeyboardInterrupt escapes unittest: the job fails
        flush()
        send({"t": "exc", "type": type(exc).__name__, "msg": str(exc)[:300], "memory": isinstance(exc, MemoryError)})
        return
    flush()
    send({"t": "done"})
