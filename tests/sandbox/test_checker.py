"""The jailed test code (checker.py / harness.CheckerLink): same verdicts as trusted test code had, its own
failures never a pass, a fresh one for every job, and the program cannot answer for the test's builtins."""

from __future__ import annotations

import pytest

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.sandbox import Job, Sandbox, SandboxConfig, Status

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(workers=1, timeout_per_test_s=2, timeout_per_program_s=8, memory_mb=512)) as box:
        yield box


def he(test_code: str, setup: str = "", task_id: str = "c/he") -> Problem:
    return Problem(task_id, "f", Tests(TestKind.HUMANEVAL, test_code=test_code, setup_code=setup), entry_point="f")


def asserts(*lines: str, setup: str = "") -> Problem:
    return Problem("c/as", "f", Tests(TestKind.ASSERTS, asserts=lines, setup_code=setup), entry_point="f")


def run1(sb, problem, program):
    return sb.run([Job(problem, program)], progress=False)[0]


def test_program_exceptions_reach_the_test_code(sb):
    expects_error = he("def check(c):\n    try:\n        c(-1)\n    except Exception as e:\n"
                       "        assert 'ValueError' in str(e)\n        return\n    raise AssertionError('no error')\n")
    assert run1(sb, expects_error, "def f(x):\n    raise ValueError('negative')").status is Status.PASSED
    assert run1(sb, expects_error, "def f(x):\n    return x").status is Status.FAILED
    uncaught = run1(sb, he("def check(c):\n    c(1)\n"), "def f(x):\n    raise KeyError('k')")
    assert uncaught.status is Status.RUNTIME_ERROR and "KeyError" in uncaught.detail


# Literal asserts are judged in the harness (checker.literal_tests); setup code sends them through the jailed test code.
ROUTES = pytest.mark.parametrize("setup", ["", "_jailed_route = 1"], ids=["data", "code"])


@ROUTES
def test_program_death_and_limits_keep_their_status(sb, setup):
    three = asserts("assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3", setup=setup)
    dies_once = "import os\ndef f(x):\n    if x == 2:\n        os._exit(0)\n    return x"
    r = run1(sb, three, dies_once)
    assert r.status is Status.RUNTIME_ERROR and r.tests_passed == 2 and "test 2/3" in r.detail  # test 3 got a fresh program
    assert run1(sb, three, "def f(x):\n    while True: pass").status is Status.TIMEOUT
    assert run1(sb, three, "def f(x):\n    return ' ' * (1 << 40)").status is Status.MEMORY_EXCEEDED
    nonplain = run1(sb, three, "class I(int):\n    def __eq__(self, o): return True\ndef f(x):\n    return I(0)")
    assert nonplain.status is Status.FAILED and "non-plain" in nonplain.detail


def test_test_code_failures_are_never_a_pass(sb):
    ok = "def f(x):\n    return x"
    assert run1(sb, he("def check(c):\n    while True: pass\n"), ok).status is Status.TIMEOUT
    no_check = run1(sb, he("x = 1\n"), ok)
    assert no_check.status is Status.SANDBOX_ERROR and "check" in no_check.detail
    exits = run1(sb, he("import os\ndef check(c):\n    os._exit(0)\n"), ok)
    assert exits.status is Status.FAILED and "without a result" in exits.detail
    assert run1(sb, he("def check(c):\n    c(object())\n"), ok).status is Status.SANDBOX_ERROR
    noisy = he("import os\ndef check(c):\n    print('x' * 100000)\n    assert c(1) == 1\n")
    assert run1(sb, noisy, ok).status is Status.PASSED  # the test code's prints are not the program's output


def test_each_job_gets_fresh_test_code_state(sb):
    poison = he("import math, random\nmath.pi = 3\nrandom.seed = None\nSTATE = []\n"
                "def check(c):\n    STATE.append(1)\n    assert c(1) == 1\n", task_id="c/poison")
    clean = he("import math, random\ndef check(c):\n    assert math.pi > 3.14 and random.seed is not None\n"
               "    assert c(1) == 1\n", task_id="c/clean")
    results = sb.run([Job(poison, "def f(x):\n    return x"), Job(clean, "def f(x):\n    return x")] * 2, progress=False)
    assert [r.status for r in results] == [Status.PASSED] * 4


def test_program_cannot_answer_for_builtins_the_asserts_use(sb):
    problem = asserts("assert set(f([1, 2, 2])) == {1, 2}", "assert len(f([3])) == 1")
    forger = "def set(x):\n    return {1, 2}\ndef len(x):\n    return 1\ndef f(xs):\n    return [0]"
    r = run1(sb, problem, forger)
    assert r.status is Status.FAILED and r.tests_passed == 1  # len(f([3])) is honestly 1
    assert run1(sb, problem, "def f(xs):\n    return sorted(dict.fromkeys(xs))").status is Status.PASSED


def test_asserts_call_the_programs_helpers_and_setup_names_win(sb):
    problem = asserts("assert helper(2) == 4", "assert f(3) == K", setup="K = 3\ndef helper(x):\n    return x * 2\n")
    program = "def helper(x):\n    return 0\ndef f(x):\n    return x\ndef K():\n    return 0"
    assert run1(sb, problem, program).status is Status.PASSED  # setup's helper and K, not the program's
    calls_program_helper = asserts("assert g(2) == 5")  # read as data
    assert run1(sb, calls_program_helper, "def g(x):\n    return x + 3\ndef f(x):\n    return x").status is Status.PASSED


@ROUTES
def test_a_decorated_entry_point_is_still_called(sb, setup):
    problem = asserts("assert f(10) == 55", "assert f(1) == 1", setup=setup)
    cached = "from functools import lru_cache\n@lru_cache(maxsize=None)\ndef f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)"
    assert run1(sb, problem, cached).status is Status.PASSED
    builtin_named = Problem("c/sum", "sum", Tests(TestKind.ASSERTS, asserts=("assert sum([1, 2]) == 30",),
                                                           setup_code=setup),
                            entry_point="sum")
    assert run1(sb, builtin_named, "def sum(xs):\n    return 30").status is Status.PASSED  # the program's, not builtins'
    assert run1(sb, builtin_named, "def sum(xs):\n    return 3").status is Status.FAILED


def test_the_programs_faults_stick_whatever_the_test_code_catches(sb):
    swallows = he("def check(c):\n    for x in range(3):\n        try:\n            c(x)\n        except BaseException:\n"
                  "            pass\n")
    dies = run1(sb, swallows, "import os\ndef f(x):\n    os._exit(3)")
    assert dies.status is Status.RUNTIME_ERROR and "exited while running f" in dies.detail
    assert run1(sb, swallows, "def f(x):\n    return ' ' * (1 << 40)").status is Status.MEMORY_EXCEEDED
    forged = run1(sb, swallows, "class I(int):\n    def __eq__(self, o): return True\ndef f(x):\n    return I(0)")
    assert forged.status is Status.FAILED and "non-plain" in forged.detail
    # what the program writes on its channel is read as its answer to the next call, nothing more
    garbage = run1(sb, swallows, "import os\ndef f(x):\n    os.write(6, b'not json\\n')\n    return x")
    assert garbage.status is Status.RUNTIME_ERROR and "unexpected message" in garbage.detail
    assert run1(sb, swallows, "def f(x):\n    return x").status is Status.PASSED


def test_the_programs_output_keeps_flowing_and_is_capped_while_the_test_code_waits(sb):
    calls = he("def check(c):\n    assert c(1) == 1\n    assert c(2) == 2\n    c(0)\n")
    chatty = "import sys\ndef f(x):\n    sys.stdout.write('y' * 200000)\n    return x"  # > a pipe's 64 KiB
    capped = run1(sb, calls, "import sys\ndef f(x):\n    sys.stdout.write('y' * (1 << 24))\n    return x")
    assert capped.status is Status.OUTPUT_EXCEEDED
    assert run1(sb, calls, chatty).status is Status.PASSED  # 600 KB in all: under the 1 MiB cap, never blocked


def test_setup_and_test_code_that_do_not_load_are_a_broken_problem_not_a_verdict(sb):
    ok = "def f(x):\n    return x"
    broken_setup = run1(sb, asserts("assert f(1) == 1", setup="import no_such_module_xyz"), ok)
    assert broken_setup.status is Status.SANDBOX_ERROR and "setup code failed to load: ModuleNotFoundError" in broken_setup.detail
    late_failure = run1(sb, he("def check(c):\n    assert c(1) == 1\nraise RuntimeError('bad file')\n"), ok)
    assert late_failure.status is Status.SANDBOX_ERROR and "test code failed to load: RuntimeError" in late_failure.detail
    stub_starter = Problem("c/stub", "f", Tests(TestKind.HUMANEVAL, test_code="def check(c):\n    assert c(1) == 1\n    pass\n"),
                           starter_code="class Broken(NoSuchBase):\n    pass\n", entry_point="f")
    assert run1(sb, stub_starter, ok).status is Status.PASSED  # a starter stub need not run alone


def test_a_program_talking_on_its_status_pipe_after_loading_is_stopped(sb):
    calls = he("def check(c):\n    assert c(1) == 1\n    pass\n")
    spam = "import os\ndef f(x):\n    for _ in range(50):\n        os.write(4, b'{\"t\": \"ret\"}' + b' ' * 100000 + b'\\n')\n    return x"
    r = run1(sb, calls, spam)
    assert r.status is Status.RUNTIME_ERROR and "status pipe" in r.detail
    nested = "import os\ndef f(x):\n    os.write(6, b'[' * 100000 + b'\\n')\n    return x"  # RecursionError to parse
    r = run1(sb, he("def check(c):\n    try:\n        c(1)\n    except BaseException:\n        pass\n"), nested)
    assert r.status is Status.RUNTIME_ERROR and "unexpected message" in r.detail


def test_a_message_that_is_not_an_object_is_the_programs_fault_not_the_sandboxs(sb):
    not_a_dict = "import os\nos.write(4, b'1\\n')\ndef f(x):\n    return x"
    for problem in (he("def check(c):\n    assert c(1) == 1\n"), he("def check(c):\n    assert c(1) == 1\n    pass\n")):
        assert run1(sb, problem, not_a_dict).status is Status.RUNTIME_ERROR


def test_a_malformed_reply_is_the_programs_fault_whatever_the_test_code_catches(sb):
    catches_index_error = he("def check(c):\n    try:\n        c([])\n    except IndexError:\n        return\n"
                             "    raise AssertionError('expected an IndexError')\n")
    for payload in (b'{"c":[]}', b'{"c":[' + b"9" * 400 + b',0]}'):  # IndexError / OverflowError to decode
        forger = ("import os\ndef f(x):\n    os.write(6, b'{\"t\":\"ret\",\"v\":" + payload.decode()
                  + "}\\n')\n    os._exit(0)")
        r = run1(sb, catches_index_error, forger)
        assert r.status is Status.FAILED and "malformed return value" in r.detail, (payload, r)
