"""Trusted per-job harness: runs a problem's tests against a jailed program, decides the verdict.

Owns one harness per test kind (pgrpo.sandbox.kinds.SPECS names which runs which kind, and `run_job`).
The harness runs in the sandboxed worker and never executes model code, nor code that
arrived with a problem (a dataset file or a service request may be hostile too):
- the program runs in a jailed child (child.py);
- "humaneval" and "asserts" whose tests are data written as code (`assert f(1, [2]) == 3`:
  literal_tests.py reads them by parsing) are judged here like "call" tests;
- other "humaneval" and "asserts" tests: the problem's own code (setup code, starter-code helpers such
  as HumanEval/32 `poly`, `check`, asserts) runs in a second jailed child of the job
  (checker.py, driven by checker_link.py); it calls the program over a pipe pair of their
  own with plain values only (codec.py), so an always-True `__eq__`, `sys.exit(0)`,
  `os._exit(0)`, printing "passed", raising BaseException or patching builtins in the
  program cannot change the verdict: a dead program fails the test it was running;
- "call" and "stdio": data only (arguments, expected values, stdin/stdout), compared here
  (compare.py);
- "unittest" (BigCodeBench): the tests must run in the program's process (unittest_harness.py,
  unittest_run.py); the harness takes the test methods (and which may skip) from the test
  code by parsing, never by running it.

Verdict rule: tests run in order; the status and detail of the first failing test are
reported; `passed` iff every test passed; a program that does not compile is
syntax_error with 0 tests passed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pgrpo.sandbox import codec
from pgrpo.sandbox.checker_link import CheckerLink
from pgrpo.sandbox.compare import stdout_matches, values_match
from pgrpo.sandbox.literal_tests import LiteralTest, literal_tests
from pgrpo.sandbox.session import Abort, Spawner
from pgrpo.sandbox.testrun import JobSpec, JobVerdict, TestRun


def run_humaneval(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """check(candidate) from the test code, with the starter code's helpers (poly, encode_cyclic) in scope."""
    literal = literal_tests("humaneval", spec.test_code, (), spec.entry_point, spec.setup_code)
    if literal is not None:
        return _literal(TestRun(spec, "serve", spawner), literal)
    run = TestRun(spec, "serve-checked", spawner)
    checker = CheckerLink(run, "humaneval")
    return _checked(run, checker, 1)


def run_asserts(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """Each assert is one test, run in order after the setup code."""
    literal = literal_tests("asserts", "", spec.asserts, spec.entry_point, spec.setup_code)
    if literal is not None:
        return _literal(TestRun(spec, "serve", spawner), literal)
    run = TestRun(spec, "serve-checked", spawner)
    checker = CheckerLink(run, "asserts")
    return _checked(run, checker, len(spec.asserts))


def _literal(run: TestRun, tests: tuple[LiteralTest, ...]) -> JobVerdict:
    """Tests that are data (literal_tests.py): the same calls and operators, judged here."""
    def test(i: int, deadline: float) -> tuple[bool, str]:
        return tests[i].run(lambda name, args: _call_program(run, name, args, deadline))

    return _in_order(run, len(tests), run.open, test, run.close)


def _checked(run: TestRun, checker: CheckerLink, total: int) -> JobVerdict:
    """Tests that are code (the problem's, jailed in `checker`) calling the program of `run`."""
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


def _call_program(run: TestRun, name: str, args: tuple[Any, ...], deadline: float) -> Any:
    session = run.live_session()
    if name != run.spec.entry_point and name not in run.funcs:  # as the test code would find it (checker.py)
        raise NameError(f"name {name!r} is not defined")
    return session.call(name, None, args, deadline)


def run_call(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = TestRun(spec, "serve", spawner)
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


def run_stdio(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    run = TestRun(spec, "stdio", spawner)
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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
