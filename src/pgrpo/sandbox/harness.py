"""Trusted per-job harness: runs a problem's tests against a jailed program, decides the verdict.

Owns `run_job(spec) -> JobVerdict` and one harness per test kind (registry HARNESSES).
The harness runs in the sandboxed worker and never executes model code: the program runs
in a jailed child (child.py) and the tests here call it through a proxy that ships plain
arguments in and plain values out (codec.py). Trusted code - the problem's starter code
(for helpers such as HumanEval/32 `poly`), setup code, `check`, asserts and expected
outputs - runs only here, so an always-True `__eq__`, `sys.exit(0)`, `os._exit(0)`,
printing "passed", raising BaseException or patching builtins in the child cannot
change the verdict: a dead child fails the test it was running. Exception: the "unittest"
kind (BigCodeBench), whose tests must run in the program's process (see run_unittest and
unittest_run.py); there the harness takes the test methods (and which may skip) from the
trusted test code and decides, but cannot fully stop in-process forging (see unittest_run.py).

Verdict rule: tests run in order; the status and detail of the first failing test are
reported; `passed` iff every test passed; a program that does not compile is
syntax_error with 0 tests passed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pgrpo.data.unittest_suite import skippable_names, unittest_names
from pgrpo.registry import Registry
from pgrpo.sandbox import codec
from pgrpo.sandbox.compare import stdout_matches, values_match
from pgrpo.sandbox.isolation import Limits
from pgrpo.sandbox.session import Abort, CandidateError, ChildSession, Spawner
from pgrpo.sandbox.types import Status
from pgrpo.sandbox.unittest_run import pack_payload


@dataclass
class JobSpec:
    """Everything the harness needs for one job (decoded from the manager's JSON line)."""

    kind: str
    program: str
    # The program's limits: pgrpo.sandbox.types.SandboxConfig's fields (sent with every job by the pool).
    timeout_per_test_s: float
    timeout_per_program_s: float
    memory_mb: int
    output_limit_bytes: int
    max_processes: int
    scratch_mb: int
    entry_point: str = ""
    class_name: str | None = None
    starter_code: str = ""
    test_code: str = ""
    setup_code: str = ""
    asserts: list[str] = field(default_factory=list)
    cases: list[list[Any]] = field(default_factory=list)  # [[args_wire, expected_wire | None], ...]
    stdio: list[list[str]] = field(default_factory=list)  # [[stdin, stdout], ...]
    atol: float | None = None
    collect: bool = False  # return the outputs of `cases` instead of comparing (canonical runs)


@dataclass
class JobVerdict:
    status: Status
    detail: str
    tests_passed: int
    tests_total: int
    outputs: list[Any] | None = None  # collect mode: wire-encoded outputs (None where it failed)


class _Run:
    """Bookkeeping shared by the harnesses: child sessions, deadlines, first failure."""

    def __init__(self, spec: JobSpec, mode: str, spawner: Spawner) -> None:
        self.spec = spec
        self.spawner = spawner
        self.mode = mode
        self.program_deadline = time.monotonic() + spec.timeout_per_program_s
        self.limits = Limits(
            memory_bytes=spec.memory_mb << 20,
            cpu_seconds=int(spec.timeout_per_program_s) + 2,
            max_processes=spec.max_processes,
            file_bytes=spec.scratch_mb << 20,
        )
        self.session: ChildSession | None = None
        self.funcs: list[str] = []
        self.passed = 0
        self.failure: tuple[Status, str] | None = None

    def deadline(self) -> float:
        return min(time.monotonic() + self.spec.timeout_per_test_s, self.program_deadline)

    def open(self, stdin: str = "") -> ChildSession:
        """A fresh child; in serve mode, wait until the program has loaded."""
        self.close()
        session = self.session = ChildSession(self.spawner, self.spec.program, self.mode, self.limits,
                                              self.spec.scratch_mb, self.spec.output_limit_bytes, stdin)
        if self.mode == "serve":
            msg = self.check_load(session, session.message(self.deadline(), "timed out loading the program"))
            self.funcs = list(msg.get("funcs", []))
        return session

    @staticmethod
    def check_load(session: ChildSession, msg: dict | None) -> dict:
        """`msg`, the program's first message, if it says the program loaded; else Abort."""
        if msg is None:
            raise Abort(Status.RUNTIME_ERROR, "program exited while loading" + session.stderr_hint())
        kind = msg.get("t")
        if kind == "syntax":
            raise Abort(Status.SYNTAX_ERROR, str(msg.get("msg")))
        if kind == "sandbox":
            raise Abort(Status.SANDBOX_ERROR, f"jail setup failed: {msg.get('msg')}")
        if kind in ("load_exc", "exc"):
            status = Status.MEMORY_EXCEEDED if msg.get("memory") else Status.RUNTIME_ERROR
            raise Abort(status, f"{msg.get('type')}: {msg.get('msg')}")
        if kind not in ("ready", "done"):
            raise Abort(Status.RUNTIME_ERROR, f"unexpected message from program: {str(kind)[:50]}")
        return msg

    def ended_early(self, detail: str) -> Abort:
        """The Abort for a child that died unasked: timeout if it ran out of CPU time
        (RLIMIT_CPU: SIGXCPU, or SIGKILL at the hard limit), else runtime_error."""
        if self.session is not None:
            self.session.kill()
        ended = self.spawner.last_exit()
        if ended is not None:
            status, cpu_s = ended
            if (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU) or \
                    cpu_s >= self.limits.cpu_seconds - 0.5:
                return Abort(Status.TIMEOUT, f"CPU time limit {self.limits.cpu_seconds}s exceeded "
                                             f"({cpu_s:.0f} CPU s: threads count too)")
        return Abort(Status.RUNTIME_ERROR, detail)

    def live_session(self) -> ChildSession:
        if self.session is None or not self.session.alive:
            return self.open()
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def record(self, ok: bool, status: Status = Status.FAILED, detail: str = "") -> None:
        if ok:
            self.passed += 1
        elif self.failure is None:
            self.failure = (status, detail[:1000])

    def verdict(self, total: int, outputs: list[Any] | None = None) -> JobVerdict:
        if self.failure is None and self.passed == total:
            return JobVerdict(Status.PASSED, "", self.passed, total, outputs)
        status, detail = self.failure or (Status.FAILED, "no tests ran")
        return JobVerdict(status, detail, self.passed, total, outputs)

    def run_test(self, index: int, total: int, body: Callable[[], tuple[bool, str]]) -> bool:
        """Run one test body; False when the job must stop (syntax error, program time cap)."""
        if time.monotonic() >= self.program_deadline:
            self.record(False, Status.TIMEOUT, f"program time limit {self.spec.timeout_per_program_s}s reached")
            return False
        try:
            ok, detail = body()
            self.record(ok, Status.FAILED, f"test {index + 1}/{total}: {detail}")
        except Abort as abort:
            self.record(False, abort.status, f"test {index + 1}/{total}: {abort.detail}")
            if abort.status is Status.SYNTAX_ERROR:
                return False
            if self.session is not None and abort.status is not Status.FAILED:
                self.session.kill()
        except CandidateError as exc:
            self.record(False, Status.RUNTIME_ERROR, f"test {index + 1}/{total}: {exc}")
        except AssertionError as exc:
            self.record(False, Status.FAILED, f"test {index + 1}/{total}: assertion failed {exc}".rstrip())
        except Exception as exc:  # noqa: BLE001 - trusted test code raising on a wrong answer is a failure
            self.record(False, Status.FAILED, f"test {index + 1}/{total}: {type(exc).__name__}: {exc}")
        return True


def _proxy(run: _Run, name: str, cls: str | None, deadline: Callable[[], float]) -> Callable[..., Any]:
    def candidate(*args: Any) -> Any:
        return run.live_session().call(name, cls, args, deadline())

    candidate.__name__ = name
    return candidate


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, filename: str):
    """Compiled trusted test code, cached: the same problem's tests come back many times
    (GRPO groups, pass@k). Code objects are immutable, so sharing them is safe."""
    return compile(source, filename, "exec")


def _trusted_namespace(*sources: str) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "__harness__"}
    for source in sources:
        if not source.strip():
            continue
        try:
            exec(_compiled(source, "<tests>"), ns)  # noqa: S102 - trusted problem code, never model code
        except Exception:  # noqa: BLE001 - starter stubs (e.g. a bare class skeleton) may not run alone
            continue
    return ns


HARNESSES: Registry[Callable[[JobSpec, Spawner], JobVerdict]] = Registry("sandbox harness")


@HARNESSES.register("humaneval")
def run_humaneval(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = _Run(spec, "serve", spawner)
    try:
        run.open()
        # Helpers from the trusted starter code (poly, encode_cyclic) that check() uses.
        ns = _trusted_namespace(spec.setup_code, spec.starter_code, spec.test_code)
        check = ns.get("check")
        if not callable(check):
            raise Abort(Status.SANDBOX_ERROR, "test code defines no check(candidate)")
        test_deadline = run.deadline()
        proxy = _proxy(run, spec.entry_point, None, lambda: test_deadline)
        ns[spec.entry_point] = proxy  # checks may call the entry point by name (HumanEval/33)

        def body() -> tuple[bool, str]:
            check(proxy)
            return True, ""

        run.run_test(0, 1, body)
    except Abort as abort:
        run.record(False, abort.status, abort.detail)
    finally:
        run.close()
    return run.verdict(1)


@HARNESSES.register("asserts")
def run_asserts(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = _Run(spec, "serve", spawner)
    total = len(spec.asserts)
    try:
        run.open()
        ns = _trusted_namespace(spec.setup_code)
        current = [run.deadline()]
        for name in {*run.funcs, spec.entry_point} - {""}:
            if name not in ns:
                ns[name] = _proxy(run, name, None, lambda: current[0])
        for i, source in enumerate(spec.asserts):
            current[0] = run.deadline()

            def body(src: str = source) -> tuple[bool, str]:
                exec(_compiled(src, "<assert>"), ns)  # noqa: S102 - trusted test code
                return True, ""

            if not run.run_test(i, total, body):
                break
            if run.failure is not None and run.failure[1].endswith("assertion failed"):
                run.failure = (run.failure[0], f"{run.failure[1]}: {source[:300]}")
    except Abort as abort:
        run.record(False, abort.status, abort.detail)
    finally:
        run.close()
    return run.verdict(total)


@HARNESSES.register("call")
def run_call(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = _Run(spec, "serve", spawner)
    total = len(spec.cases)
    outputs: list[Any] = [None] * total
    try:
        run.open()
        for i, (args_wire, expected_wire) in enumerate(spec.cases):
            def body(i: int = i, args_wire: Any = args_wire, expected_wire: Any = expected_wire) -> tuple[bool, str]:
                args = codec.from_wire(args_wire)
                actual = run.live_session().call(spec.entry_point, spec.class_name, tuple(args), run.deadline())
                if spec.collect:
                    outputs[i] = codec.to_wire(actual)
                    return True, ""
                if expected_wire is None:
                    return False, "no expected output (canonical solution failed on this input)"
                expected = codec.from_wire(expected_wire)
                if values_match(actual, expected, spec.atol):
                    return True, ""
                return False, f"wrong answer: got {_short(actual)}, expected {_short(expected)}"

            if not run.run_test(i, total, body):
                break
    except Abort as abort:
        run.record(False, abort.status, abort.detail)
    finally:
        run.close()
    return run.verdict(total, outputs if spec.collect else None)


@HARNESSES.register("stdio")
def run_stdio(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = _Run(spec, "stdio", spawner)
    total = len(spec.stdio)
    try:
        for i, (stdin, expected) in enumerate(spec.stdio):
            def body(stdin: str = stdin, expected: str = expected) -> tuple[bool, str]:
                session = run.open(stdin)
                deadline = run.deadline()
                msg = session.message(deadline, "time limit exceeded")
                run.check_load(session, msg)
                session.drain(deadline)
                actual = session.stdout.decode("utf-8", "replace")
                if stdout_matches(actual, expected):
                    return True, ""
                return False, f"wrong answer: got {_short(actual)}, expected {_short(expected)}"

            if not run.run_test(i, total, body):
                break
    finally:
        run.close()
    return run.verdict(total)


@HARNESSES.register("unittest")
def run_unittest(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """BigCodeBench: the program and its TestCases run together in one jailed child
    (unittest_run.py), under one time limit for the whole suite. Passed iff the child
    reports every test method of the trusted test code's TestCases as ok, says "done" in
    time, and reports no failure and no tampering; an exit, silence or garbage is a failure.
    A skip passes only for a method the trusted code itself may skip (skippable_names);
    BigCodeBench's own harness counts every skip as a pass. Test code without test methods
    fails closed (sandbox_error): the names are never taken from the child."""
    expected = unittest_names(spec.test_code)
    if not expected:
        return JobVerdict(Status.SANDBOX_ERROR, "test code defines no TestCases test methods", 0, 1)
    may_skip = skippable_names(spec.test_code)
    payload = pack_payload(spec.program, spec.test_code, expected)
    run = _Run(dataclasses.replace(spec, program=payload), "unittest", spawner)
    outcome: dict[str, tuple[Status | None, str]] = {}  # None: passed
    try:
        session = run.open()
        deadline = run.deadline()
        limit = min(spec.timeout_per_test_s, spec.timeout_per_program_s)
        while True:
            msg = session.message(deadline, f"time limit {limit:g}s exceeded")
            if msg is None:
                raise run.ended_early("program exited before the tests finished" + session.stderr_hint())
            kind = msg.get("t")
            if kind == "done":
                break
            if kind == "tamper":
                raise Abort(Status.FAILED, str(msg.get("msg", "the program changed the test machinery"))[:300])
            if kind != "test":
                run.check_load(session, msg)  # raises for syntax / load errors / jail failures
                raise Abort(Status.RUNTIME_ERROR, f"unexpected message from program: {str(kind)[:50]}")
            name, detail = str(msg.get("name")), str(msg.get("msg", ""))[:1000]
            if msg.get("skip") is True and name in may_skip:
                status: Status | None = None
            elif msg.get("ok") is True and msg.get("skip") is not True:
                status = None
            else:
                status = Status.MEMORY_EXCEEDED if msg.get("memory") is True else Status.FAILED
                if msg.get("skip") is True:
                    detail = f"skipped by the program (the test code does not skip it): {detail}"
            if name not in expected:  # a class/module fixture: only its failure counts
                if status is not None:
                    raise Abort(status, f"{name}: {detail}")
                continue
            if outcome.get(name, (None, ""))[0] is None:  # a failure (e.g. of one subtest) sticks
                outcome[name] = (status, detail)
    except Abort as abort:
        run.record(False, abort.status, abort.detail)
    finally:
        run.close()
    for name in expected:
        status, detail = outcome.get(name, (Status.FAILED, "did not run"))
        run.record(status is None, status or Status.FAILED, f"{name}: {detail}")
    return run.verdict(len(expected))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def run_job(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """Run one job's tests, its programs started by `spawner`. Never raises for a bad program."""
    return HARNESSES.get(spec.kind)(spec, spawner)
