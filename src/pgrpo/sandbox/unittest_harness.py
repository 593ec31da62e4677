"""The trusted side of the "unittest" test kind (BigCodeBench): decide a verdict from the jailed suite's reports.

Owns `run_unittest(spec, spawner)`. The program and its TestCases run together in one jailed
test process (unittest_run.py forks it, unittest_child.py runs it); this side reads from the
trusted test code (pgrpo.data.unittest_suite) the test methods, which may skip, the lines
where a skip may be raised, the skip decorators, the expected failures and the imports, sends
them with the program, and never takes test names or skip rights from the child.
"""

from __future__ import annotations

import dataclasses

from pgrpo.data.unittest_suite import (
    MAX_TEST_CODE_CHARS,
    decorator_skips,
    expected_failures,
    skip_sites,
    skippable_names,
    test_imports,
    too_long,
    unittest_names,
)
from pgrpo.sandbox.session import Abort, Spawner
from pgrpo.sandbox.testrun import JobSpec, JobVerdict, TestRun
from pgrpo.sandbox.types import Status
from pgrpo.sandbox.unittest_run import pack_payload


def run_unittest(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """BigCodeBench: the program and its TestCases run together in one jailed child
    (unittest_run.py), under one time limit for the whole suite. Passed iff the child
    reports every test method of the trusted test code's TestCases as ok, says "done" in
    time, and reports no failure, no tampering and no refused operation; an exit, silence or
    garbage is a failure. A skip passes only if the child found it raised at a skip of the test
    code (or by its decorator) AND the method is one the trusted code may skip
    (skippable_names); BigCodeBench's own harness counts every skip as a pass. Test code without test methods
    fails closed (sandbox_error): the names are never taken from the child."""
    if too_long(spec.test_code):
        return JobVerdict(Status.SANDBOX_ERROR, f"test code of {len(spec.test_code)} characters: over the "
                                                f"{MAX_TEST_CODE_CHARS} the harness parses", 0, 1)
    expected = unittest_names(spec.test_code)
    if not expected:
        return JobVerdict(Status.SANDBOX_ERROR, "test code defines no TestCases test methods", 0, 1)
    may_skip = skippable_names(spec.test_code)
    payload = pack_payload(spec.program, spec.test_code, expected, entry_point=spec.entry_point,
                           skip_sites=skip_sites(spec.test_code), decorator_skips=decorator_skips(spec.test_code),
                           expected_failures=expected_failures(spec.test_code),
                           imports=test_imports(spec.test_code))
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
            name, detail = str(msg.get("name")), str(msg.get("msg", ""))[:1000]
            if msg.get("skip") is True and msg.get("ok") is True and name in may_skip:
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
