"""The worker's handle on one job's jailed test code (checker.py) and its program: start both, run a test.

Owns `CheckerLink`. The problem's test code runs in its own jailed runner, started by the
worker's second spawner (`Spawner.sibling`), side by side with the program's runner
("serve-checked" mode), each forked fresh and killed when the job ends (never reused: nothing
one job's test code leaves behind reaches another job). The worker makes the two a pipe pair
of their own, so a call from the test code to the program costs no trip through the worker;
only plain data travels on it (codec.py), so neither side can hand the other an object. The
worker keeps the program's status pipe and output (pumped while it waits, under the output
cap), every deadline, and both kills. A program that dies, times out, runs out of memory or
sends a bad value ends the test with the program's status (checker.py reports the fault; but
for a bad value, after which both are still in step, both runners are replaced for the next
test); the checker's own death or silence is the test code's failure, never a pass.

Does NOT protect against test code that lies about its own job's verdict: the test code is
what defines the job.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pgrpo.sandbox.checker import pack_payload
from pgrpo.sandbox.session import Abort, CandidateError, ChildSession
from pgrpo.sandbox.testrun import TestRun
from pgrpo.sandbox.types import Status

_STATUSES = {"failed": Status.FAILED, "sandbox_error": Status.SANDBOX_ERROR}
# Faults of the program, as checker.py reports them, and the status each ends the test with.
_FAULTS = {"failed": Status.FAILED, "memory_exceeded": Status.MEMORY_EXCEEDED,
           "output_exceeded": Status.OUTPUT_EXCEEDED, "runtime_error": Status.RUNTIME_ERROR}


class CheckerLink:
    """One job's test code and program in their jailed runners; `test(i, deadline)` runs test i."""

    def __init__(self, run: TestRun, kind: str) -> None:
        self.run = run
        spec = run.spec
        self.payload = pack_payload(kind, spec.setup_code, spec.starter_code, spec.test_code, spec.entry_point,
                                    spec.asserts)
        self.session: ChildSession | None = None
        self.ready = False
        self._in_step = False

    def start(self) -> None:
        """Fork the checker and the program with a pipe pair between them (the checker loads while
        the program does). Both are replaced together: the pipes join this pair only."""
        if self.session is not None and self.session.alive and self.run.session is not None \
                and self.run.session.alive:
            return
        self.close()
        to_program_r, to_program_w = os.pipe()
        from_program_r, from_program_w = os.pipe()
        try:
            no_scratch = 0  # a check runner gets no writable filesystem (child.py, role "check")
            self.session = ChildSession(self.run.spawner.sibling(), self.payload, "check", self.run.limits,
                                        no_scratch, self.run.spec.output_limit_bytes,
                                        extra_fds=(to_program_w, from_program_r))
            program = self.run.open(extra_fds=(to_program_r, from_program_w))
        finally:
            for fd in (to_program_r, to_program_w, from_program_r, from_program_w):
                os.close(fd)
        self.session.follow(program)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
            self.ready = False
        self.run.close()

    def test(self, index: int, deadline: float) -> tuple[bool, str]:
        """Run test `index`: (passed, detail). Raises Abort / CandidateError like a trusted test body."""
        self._in_step = False
        try:
            return self._test(index, deadline)
        except BaseException:
            if not self._in_step:
                self.close()  # mid-test: their state is unknown, the next test gets fresh ones
            raise

    def _test(self, index: int, deadline: float) -> tuple[bool, str]:
        self.start()
        session = self.session
        assert session is not None
        if not self.ready:
            msg = session.message(deadline, "timed out loading the test code")
            if msg is None or msg.get("t") not in ("ready", "setup"):
                raise Abort(Status.SANDBOX_ERROR, "test code failed to load" + _said(msg) + session.stderr_hint())
            if msg["t"] == "setup":
                raise Abort(Status.SANDBOX_ERROR, str(msg.get("msg"))[:300])
            self.ready = True
        session.send({"t": "run", "i": index, "names": [*self.run.funcs, self.run.spec.entry_point]}, deadline,
                     "time limit exceeded")
        msg = session.message(deadline, "time limit exceeded")
        if msg is None:
            raise Abort(Status.FAILED, "test code exited without a result" + session.stderr_hint())
        if msg.get("t") != "test" or msg.get("i") != index:
            raise Abort(Status.SANDBOX_ERROR, "unexpected message from test code" + _said(msg))
        # The test ended with a report: both runners are in step (the program answered every call),
        # so an exception the test code left uncaught or a value fault keeps them, as a trusted
        # test body would keep the program; any other fault replaces both.
        self._in_step = msg.get("status") != "program" or msg.get("fault") == "failed"
        if msg.get("status") == "program":
            raise self._fault(msg, deadline)
        return _result(msg)

    def _fault(self, msg: dict[str, Any], deadline: float) -> Abort:
        """The Abort for the program's fault that ended the test (reported by the test code)."""
        fault, name = str(msg.get("fault")), str(msg.get("name"))[:100]
        if fault in _FAULTS:
            return Abort(_FAULTS[fault], str(msg.get("detail", ""))[:300])
        program = self.run.session
        if program is None:
            return Abort(Status.RUNTIME_ERROR, f"program exited while running {name}")
        try:
            program.drain(min(deadline, time.monotonic() + 0.5))  # its last words, for the detail
        except Abort:
            pass
        return Abort(Status.RUNTIME_ERROR, f"program exited while running {name}{program.stderr_hint()}")


def _result(msg: dict[str, Any]) -> tuple[bool, str]:
    status, detail = msg.get("status"), str(msg.get("detail", ""))[:1000]
    if status == "passed":
        return True, ""
    if status == "runtime_error":  # the program's exception, uncaught by the test code
        raise CandidateError(str(msg.get("type"))[:100], str(msg.get("msg"))[:300], False)
    if status == "failed":
        return False, detail
    raise Abort(_STATUSES.get(str(status), Status.SANDBOX_ERROR), detail or f"test code said {str(status)[:50]}")


def _said(msg: Any) -> str:
    return "" if msg is None else f": {str(msg.get('t'))[:50]}"
