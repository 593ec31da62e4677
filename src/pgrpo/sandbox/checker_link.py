"""The worker's handle on one job's jailed test code (checker.py): start it, run a test, relay its calls.

Owns `CheckerLink`. The problem's test code runs in its own jailed runner, started by the
worker's second spawner (`Spawner.sibling`) at the start of the job, in parallel with the
program's, and killed when the job ends (never reused: nothing one job's test code leaves
behind reaches another job). For each test the worker asks the checker to run it and relays
every call the test code makes to the program's runner: arguments in and values out as
plain data only (codec.py), so neither side can hand the other an object. A program that
dies, times out or sends a bad value ends the test with the program's status (the checker
is killed and restarted for the next test); the checker's own death or silence is the test
code's failure, never a pass.

Does NOT protect against test code that lies about its own job's verdict: the test code is
what defines the job.
"""

from __future__ import annotations

from typing import Any

from pgrpo.sandbox import codec
from pgrpo.sandbox.checker import pack_payload
from pgrpo.sandbox.session import Abort, CandidateError, ChildSession
from pgrpo.sandbox.testrun import TestRun
from pgrpo.sandbox.types import Status

_STATUSES = {"failed": Status.FAILED, "sandbox_error": Status.SANDBOX_ERROR}


class CheckerLink:
    """One job's test code in its jailed runner; `test(i, deadline)` runs test i against the program of `run`."""

    def __init__(self, run: TestRun, kind: str, sources: list[str], asserts: list[str] | None = None) -> None:
        self.run = run
        self.payload = pack_payload(kind, sources, run.spec.entry_point, asserts or [])
        self.session: ChildSession | None = None
        self.ready = False

    def start(self) -> None:
        """Fork the checker now (it loads while the program does); a dead one is replaced."""
        if self.session is not None and self.session.alive:
            return
        self.close()
        spec = self.run.spec
        no_scratch = 0  # a check runner gets no writable filesystem (child.py, role "check")
        self.session = ChildSession(self.run.spawner.sibling(), self.payload, "check", self.run.limits,
                                    no_scratch, spec.output_limit_bytes)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
            self.ready = False

    def test(self, index: int, deadline: float) -> tuple[bool, str]:
        """Run test `index`: (passed, detail). Raises Abort / CandidateError like a trusted test body."""
        try:
            return self._test(index, deadline)
        except BaseException:
            self.close()  # mid-test: its state is unknown, the next test gets a fresh one
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
        session.send({"t": "run", "i": index, "names": [*self.run.funcs, self.run.spec.entry_point]}, deadline, "time limit exceeded")
        while True:
            msg = session.message(deadline, "time limit exceeded")
            if msg is None:
                raise Abort(Status.FAILED, "test code exited without a result" + session.stderr_hint())
            kind = msg.get("t")
            if kind == "call":
                session.send(self._relay(msg, deadline), deadline, "time limit exceeded")
            elif kind == "test" and msg.get("i") == index:
                return _result(msg)
            else:
                raise Abort(Status.SANDBOX_ERROR, "unexpected message from test code" + _said(msg))

    def _relay(self, msg: dict, deadline: float) -> dict:
        """One call from the test code to the program; the reply for the test code."""
        name, args_wire = msg.get("name"), msg.get("args")
        try:
            if not isinstance(name, str) or type(codec.from_wire(args_wire)) is not tuple:
                raise ValueError("not a call")
        except (ValueError, TypeError, KeyError, RecursionError):
            raise Abort(Status.SANDBOX_ERROR, "malformed call from test code") from None
        try:
            _, value_wire = self.run.live_session().call_wire(name, None, args_wire, deadline)
        except CandidateError as exc:
            return {"t": "exc", "type": exc.type_name, "msg": exc.msg}
        return {"t": "ret", "v": value_wire}


def _result(msg: dict) -> tuple[bool, str]:
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
