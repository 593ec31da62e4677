"""One job on the trusted side: `JobSpec` (as the worker receives it), `JobVerdict` and `TestRun`.

`TestRun` is the bookkeeping every harness (harness.py) uses: child sessions, deadlines, the first
failure, the verdict rule. Runs in the sandboxed worker; never executes model or problem code.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pgrpo.sandbox import codec
from pgrpo.sandbox.isolation import Limits
from pgrpo.sandbox.session import Abort, ChildSession, Spawner
from pgrpo.sandbox.types import Status


@dataclass
class JobSpec:
    """Everything the harness needs for one job (decoded from the manager's JSON line)."""

    kind: str
    program: str
    # The program's limits: pgrpo.sandbox.settings.SandboxConfig's fields (sent with every job by the pool).
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


class TestRun:
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

    def open(self, stdin: str = "", extra_fds: tuple[int, ...] = ()) -> ChildSession:
        """A fresh child; in serve modes, wait until the program has loaded."""
        self.close()
        session = self.session = ChildSession(self.spawner, self.spec.program, self.mode, self.limits,
                                              self.spec.scratch_mb, self.spec.output_limit_bytes, stdin,
                                              extra_fds)
        if self.mode in ("serve", "serve-checked"):
            msg = self.check_load(session, session.message(self.deadline(), "timed out loading the program"))
            self.funcs = list(msg.get("funcs", []))
        return session

    @staticmethod
    def check_load(session: ChildSession, msg: dict[str, Any] | None) -> dict[str, Any]:
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

    def verdict(self, total: int) -> JobVerdict:
        if self.failure is None and self.passed == total:
            return JobVerdict(Status.PASSED, "", self.passed, total)
        status, detail = self.failure or (Status.FAILED, "no tests ran")
        return JobVerdict(status, detail, self.passed, total)

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
        except codec.CandidateError as exc:
            self.record(False, Status.RUNTIME_ERROR, f"test {index + 1}/{total}: {exc}")
        except Exception as exc:  # noqa: BLE001 - e.g. a test calling a name the program does not define
            self.record(False, Status.FAILED, f"test {index + 1}/{total}: {type(exc).__name__}: {exc}")
        return True
