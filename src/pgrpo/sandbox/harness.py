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

import functools
from collections.abc import Callable
from typing import Any

from pgrpo.registry import Registry
from pgrpo.sandbox import codec
from pgrpo.sandbox.compare import stdout_matches, values_match
from pgrpo.sandbox.session import Abort, Spawner
from pgrpo.sandbox.testrun import JobSpec, JobVerdict, TestRun
from pgrpo.sandbox.types import Status
from pgrpo.sandbox.unittest_harness import run_unittest

__all__ = ["HARNESSES", "JobSpec", "JobVerdict", "run_job"]


def _proxy(run: TestRun, name: str, cls: str | None, deadline: Callable[[], float]) -> Callable[..., Any]:
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
    run = TestRun(spec, "serve", spawner)
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
    run = TestRun(spec, "serve", spawner)
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


@HARNESSES.register("stdio")
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

HARNESSES.register("unittest")(run_unittest)


def run_job(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """Run one job's tests, its programs started by `spawner`. Never raises for a bad program."""
    return HARNESSES.get(spec.kind)(spec, spawner)
