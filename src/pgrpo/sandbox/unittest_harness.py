"""The trusted side of the "unittest" test kind (BigCodeBench): decide a verdict from the jailed suite's reports.

Owns `run_unittest(spec, spawner)`. The program and its TestCases run together in one jailed
child (unittest_run.py); this side knows the test methods and which may skip from the trusted
test code (pgrpo.data.unittest_suite) and never takes them from the child.
"""

from __future__ import annotations

import dataclasses

from pgrpo.data.unittest_suite import skippable_names, unittest_names
from pgrpo.sandbox.session import Abort, Spawner
from pgrpo.sandbox.testrun import JobSpec, JobVerdict, TestRun
from pgrpo.sandbox.types import Status
from pgrpo.sandbox.unittest_run import pack_payload


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
