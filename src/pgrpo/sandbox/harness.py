"""Trusted per-job harnesses, one per test kind (kinds.SPECS), and `CheckerLink`: run the tests, decide.

Runs in the sandboxed worker and never executes model code nor code that came with a problem:
the program runs in a jailed child (child.py); tests that are data are judged here
(checker.literal_tests, compare.py); other test code runs in a second jailed child (checker.py) that
calls the program over a pipe pair of their own with plain values only (codec.py); "unittest"
tests run in the program's process (unittest_run.py), with test names and skip rights read here
by parsing. Verdict: tests in order, the first failure's status and detail, passed iff all pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

from pgrpo.data.unittest_suite import (
    MAX_TEST_CODE_CHARS,
    decorator_skips,
    expected_failures,
    skip_sites,
    skippable_names,
    test_imports,
    unittest_names,
)
from pgrpo.sandbox import codec
from pgrpo.sandbox.checker import literal_tests
from pgrpo.sandbox.compare import stdout_matches, values_match
from pgrpo.sandbox.session import Abort, ChildSession, Spawner
from pgrpo.sandbox.testrun import JobSpec, JobVerdict, TestRun
from pgrpo.sandbox.types import Status

# Faults of the program that checker.py reports and that end a test with the status of that name.
_FAULTS = frozenset({"failed", "memory_exceeded", "output_exceeded", "runtime_error"})


def run_code_tests(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """HumanEval's check(candidate) (one test) or each of the asserts (one test each)."""
    literal = literal_tests(spec.kind, spec.test_code, spec.asserts, spec.entry_point, spec.setup_code)
    if literal is not None:  # data: the same calls and operators, judged here
        run = TestRun(spec, "serve", spawner)

        def test(i: int, deadline: float) -> tuple[bool, str]:
            def call(name: str, args: tuple[Any, ...]) -> Any:
                session = run.live_session()  # (re)opened first: its functions are those of this program
                if name != spec.entry_point and name not in run.funcs:  # as the test code would find it
                    raise NameError(f"name {name!r} is not defined")
                return session.call(name, None, args, deadline)

            return literal[i].run(call)

        return _in_order(run, len(literal), run.open, test, run.close)
    run = TestRun(spec, "serve-checked", spawner)
    checker = CheckerLink(run, spec.kind)
    total = 1 if spec.kind == "humaneval" else len(spec.asserts)
    return _in_order(run, total, checker.start, checker.test, checker.close)  # start: the program too


def _in_order(run: TestRun, total: int, start: Callable[[], object], test: Callable[[int, float], tuple[bool, str]],
              close: Callable[[], None]) -> JobVerdict:
    """`start()`, then test(i, deadline) for i in order (until the job must stop), then `close()`."""
    try:
        start()
        for i in range(total):
            if not run.run_test(i, total, functools.partial(test, i, run.deadline())):
                break
    except Abort as abort:
        run.record(False, abort.status, abort.detail)
    finally:
        close()
    return run.verdict(total)


def run_call(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = TestRun(spec, "serve", spawner)
    outputs: list[Any] = [None] * len(spec.cases)

    def test(i: int, _: float) -> tuple[bool, str]:
        args_wire, expected_wire = spec.cases[i]
        args = tuple(codec.from_wire(args_wire))
        session = run.live_session()  # a program reloaded after a failure: the test's time starts now
        actual = session.call(spec.entry_point, spec.class_name, args, run.deadline())
        if spec.collect:
            outputs[i] = codec.to_wire(actual)
            return True, ""
        if expected_wire is None:
            return False, "no expected output (canonical solution failed on this input)"
        expected = codec.from_wire(expected_wire)
        return _answer(actual, expected, values_match(actual, expected, spec.atol))

    verdict = _in_order(run, len(spec.cases), run.open, test, run.close)
    return dataclasses.replace(verdict, outputs=outputs if spec.collect else None)


def run_stdio(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = TestRun(spec, "stdio", spawner)

    def test(i: int, _: float) -> tuple[bool, str]:
        stdin, expected = spec.stdio[i]
        session = run.open(stdin)
        deadline = run.deadline()  # from the start of this test's own program
        run.check_load(session, session.message(deadline, "time limit exceeded"))
        session.drain(deadline)
        actual = session.stdout.decode("utf-8", "replace")
        return _answer(actual, expected, stdout_matches(actual, expected))

    return _in_order(run, len(spec.stdio), lambda: None, test, run.close)


def _answer(actual: Any, expected: Any, ok: bool) -> tuple[bool, str]:
    return (True, "") if ok else (False, f"wrong answer: got {_short(actual)}, expected {_short(expected)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def run_unittest(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """BigCodeBench: the program and its TestCases in one jailed child (unittest_run.py), one time limit for
    the suite. Passed iff it reports every test method of the trusted test code as ok, then "done", and no
    failure, tampering or refusal. A skip passes only if the child saw it raised where the test code skips
    AND `skippable_names` allows the method (BigCodeBench counts every skip as a pass). Test names and skip
    rights come from the trusted test code only (none: sandbox_error), never from the child."""
    code = spec.test_code
    if len(code) > MAX_TEST_CODE_CHARS:
        return JobVerdict(Status.SANDBOX_ERROR, f"test code of {len(code)} characters: over the "
                                                f"{MAX_TEST_CODE_CHARS} the harness parses", 0, 1)
    expected = unittest_names(code)
    if not expected:
        return JobVerdict(Status.SANDBOX_ERROR, "test code defines no TestCases test methods", 0, 1)
    may_skip = skippable_names(code)
    payload = json.dumps({"program": spec.program, "tests": code, "names": expected,
                          "entry_point": spec.entry_point, "skip_sites": sorted(skip_sites(code)),
                          "decorator_skips": sorted(decorator_skips(code)),
                          "expected_failures": sorted(expected_failures(code)),
                          "imports": test_imports(code)})
    run = TestRun(dataclasses.replace(spec, program=payload), "unittest", spawner)
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
            if kind == "cpu":  # the test process was ended by its CPU limit (unittest_run.py)
                raise Abort(Status.TIMEOUT, str(msg.get("msg", "CPU time limit exceeded"))[:300])
            if kind == "tamper":
                raise Abort(Status.FAILED, str(msg.get("msg", "the program changed the test machinery"))[:300])
            if kind != "test":
                run.check_load(session, msg)  # raises for syntax / load errors / jail failures
                raise Abort(Status.RUNTIME_ERROR, f"unexpected message from program: {str(kind)[:50]}")
            name, skip = str(msg.get("name")), msg.get("skip") is True
            detail = str(msg.get("msg", ""))[:1000]
            status: Status | None = None
            if msg.get("ok") is not True or (skip and name not in may_skip):
                status = Status.MEMORY_EXCEEDED if msg.get("memory") is True else Status.FAILED
                if skip:
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


class CheckerLink:
    """One job's test code (checker.py, started by `Spawner.sibling`) and program ("serve-checked"), each
    forked fresh and killed with the job, joined by a pipe pair of their own (plain data only). The worker
    keeps the program's status pipe and output, every deadline and both kills. A program that dies, times
    out, runs out of memory or sends a bad value ends the test with its status (both runners are replaced,
    but after a bad value, when they are still in step); the checker's death or silence fails the test.
    Does NOT protect against test code lying about its own job's verdict: it defines the job."""

    def __init__(self, run: TestRun, kind: str) -> None:
        self.run = run
        spec = run.spec
        self.payload = json.dumps({"kind": kind, "setup_code": spec.setup_code,
                                   "starter_code": spec.starter_code, "test_code": spec.test_code,
                                   "entry_point": spec.entry_point, "asserts": spec.asserts})
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
        status, detail = msg.get("status"), str(msg.get("detail", ""))[:1000]
        if status == "program":
            raise self._fault(msg, deadline)
        if status == "runtime_error":  # the program's exception, uncaught by the test code
            raise codec.CandidateError(str(msg.get("type"))[:100], str(msg.get("msg"))[:300])
        if status == "passed":
            return True, ""
        if status == "failed":
            return False, detail
        raise Abort(Status.SANDBOX_ERROR, detail or f"test code said {str(status)[:50]}")

    def _fault(self, msg: dict[str, Any], deadline: float) -> Abort:
        """The Abort for the program's fault that ended the test (reported by the test code)."""
        fault, name = str(msg.get("fault")), str(msg.get("name"))[:100]
        if fault in _FAULTS:
            return Abort(Status(fault), str(msg.get("detail", ""))[:300])
        program = self.run.session
        if program is None:
            return Abort(Status.RUNTIME_ERROR, f"program exited while running {name}")
        with contextlib.suppress(Abort):
            program.drain(min(deadline, time.monotonic() + 0.5))  # its last words, for the detail
        return Abort(Status.RUNTIME_ERROR, f"program exited while running {name}{program.stderr_hint()}")


def _said(msg: Any) -> str:
    return "" if msg is None else f": {str(msg.get('t'))[:50]}"
