"""The jailed side of a problem's own test code (setup code, starter-code helpers, check, asserts): `run_checker`.

That code is as untrusted as the program: it runs in a "check" runner of its own (child.py: own
pid and ipc namespaces, no writable filesystem, cwd /), forked fresh per job, and calls the
program's "serve-checked" runner over their own pipe pair (fds 5 to it, 6 from it; runners.py's
call protocol) with plain values only (codec.py), so a lying `__eq__` cannot cross. A program
fault (death, memory, a bad value or message) sticks: every later call raises it and the test's
report names it, whatever the test code catches. With the worker (fd 3 in, fd 4 out): {"t":
"ready"} or {"t": "setup", "msg"}; per {"t": "run", "i", "names"}, {"t": "test", "i", "status",
"detail"[, "type", "msg"]}; status "program" adds "fault" (a Status value or "gone") and "name".
Does NOT protect against anything itself: a lying checker misjudges only its own job.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from pgrpo.sandbox import codec

TEST_SOURCE = "<tests>"
ASSERT_SOURCE = "<assert>"


class CandidateError(Exception):
    """The program raised an exception; test code may catch it (e.g. to expect a ValueError)."""

    def __init__(self, type_name: str, msg: str) -> None:
        super().__init__(f"{type_name}: {msg}")
        self.type_name, self.msg = type_name, msg


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
        view = memoryview((json.dumps({"name": name, "cls": None, "args": args_wire}) + "\n").encode())
        try:
            while view:
                view = view[os.write(5, view):]
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
        kind = reply.get("t") if isinstance(reply, dict) else "garbage"
        if kind == "ret":
            try:
                return codec.from_wire(reply["v"])
            except (Exception, MemoryError):  # noqa: BLE001 - however it fails: the program's fault, never the test's to catch
                raise _ProgramFault("failed", "malformed return value", name) from None
        if kind == "bad":
            raise _ProgramFault("failed", str(reply.get("msg", "returned non-plain type")), name)
        if kind == "exc" and reply.get("memory"):
            raise _ProgramFault("memory_exceeded", "MemoryError", name)
        if kind == "exc":
            raise CandidateError(str(reply.get("type")), str(reply.get("msg")))
        raise _ProgramFault("runtime_error", f"unexpected message from program: {str(kind)[:50]}", name)


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
    except CandidateError as exc:
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
