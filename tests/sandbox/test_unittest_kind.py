"""The "unittest" test kind (BigCodeBench) in the sandbox: forged passes fail, the harness counts and
judges the tests from the trusted test code, and the kind's own limits, cwd and prelude rules hold."""

from __future__ import annotations

import os
import warnings

import pytest

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.schema import problem_from_dict
from pgrpo.data.unittest_suite import skippable_names
from pgrpo.errors import DataError
from pgrpo.sandbox import pool as pool_module
from pgrpo.sandbox.pool import Sandbox
from pgrpo.sandbox.programs import PRELUDE_IMPORTS, program_from_code
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import Job, Status

TESTS = """import unittest
class TestCases(unittest.TestCase):
    def test_one(self):
        self.assertEqual(task_func(2), 4)
    def test_two(self):
        self.assertEqual(task_func(3), 9)
"""
RIGHT = "def task_func(x):\n    return x * x\n"
WRONG = "def task_func(x):\n    return 0\n"


def _problem(test_code: str = TESTS, task_id: str = "t") -> Problem:
    return Problem(task_id=task_id, statement="s", entry_point="task_func",
                   tests=Tests(kind=TestKind.UNITTEST, test_code=test_code))


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(workers=1, timeout_per_program_s=20.0)) as sb:
        yield sb


# Each forges a pass for WRONG's answer from inside the program's process.
EXPLOITS = {
    "skip": "import unittest\ndef task_func(x):\n    raise unittest.SkipTest('x')\n",
    "forge fd 4": (
        "import os, sys, json, unittest\n"
        "def task_func(x):\n"
        "    names = unittest.TestLoader().getTestCaseNames(sys.modules['__test__'].TestCases)\n"
        "    msg = ''.join(json.dumps({'t': 'test', 'name': n, 'ok': True}) + '\\n' for n in names)\n"
        "    os.write(4, (msg + '{\"t\":\"done\"}\\n').encode()); os._exit(0)\n"),
    "the runner's _send": (
        "import os, sys, unittest\n"
        "def task_func(x):\n"
        "    send = [m for n, m in list(sys.modules.items()) if n.startswith('pgrpo.') and hasattr(m, '_send')][0]._send\n"
        "    for n in unittest.TestLoader().getTestCaseNames(sys.modules['__test__'].TestCases):\n"
        "        send({'t': 'test', 'name': n, 'ok': True})\n"
        "    send({'t': 'done'}); os._exit(0)\n"),
    "patch TestCase.run": (
        "import unittest\n"
        "def _run(self, result=None):\n"
        "    result.startTest(self); result.addSuccess(self); result.stopTest(self)\n"
        "unittest.TestCase.run = _run\n" + WRONG),
    "patch TestResult.addFailure": (
        "import unittest\n"
        "unittest.TestResult.addFailure = unittest.TestResult.addSuccess\n" + WRONG),
    "shadow assertEqual on the instance": (
        "import sys\n"
        "def task_func(x):\n"
        "    frame = sys._getframe(1)\n"
        "    frame.f_locals['self'].assertEqual = lambda *a, **k: None\n"
        "    return 0\n"),
    "trace function": (
        "import sys\n"
        "sys.settrace(lambda *a: None)\n" + WRONG),
}


@pytest.mark.sandbox
def test_forged_passes_fail_and_the_right_answer_passes(sandbox):
    programs = {"right": RIGHT, "wrong": WRONG, **EXPLOITS}
    results = dict(zip(programs, sandbox.run([Job(_problem(), p) for p in programs.values()])))
    assert results["right"].passed and results["right"].tests_total == 2, results["right"].detail
    for name, result in results.items():
        if name != "right":
            assert not result.passed and result.tests_passed == 0, (name, result.detail)
    assert "skipped by the program" in results["skip"].detail
    assert "TestCase.run was changed" in results["patch TestCase.run"].detail


@pytest.mark.sandbox
def test_only_the_trusted_test_code_may_skip(sandbox):
    code = TESTS + ("    @unittest.skip('needs network')\n    def test_net(self):\n        pass\n"
                    "    def test_gpu(self):\n        self.skipTest('no gpu')\n")
    assert skippable_names(code) == frozenset({"test_net", "test_gpu"})
    right, skip = sandbox.run([Job(_problem(code), RIGHT), Job(_problem(code), EXPLOITS["skip"])])
    assert right.passed and right.tests_total == 4, right.detail
    assert not skip.passed and skip.tests_passed == 2  # its two own skips pass; test_one/test_two do not


@pytest.mark.sandbox
def test_test_code_without_test_methods_fails_closed_even_if_the_program_brings_its_own(sandbox):
    own = "import unittest\nclass TestCases(unittest.TestCase):\n    def test_ok(self):\n        pass\n" + WRONG
    empty, comment = (Tests(kind=TestKind.UNITTEST, test_code=c) for c in ("", "# TestCases\nimport unittest\n"))
    problems = [Problem(task_id=f"p{i}", statement="s", entry_point="task_func", tests=t)
                for i, t in enumerate((empty, comment))]
    for result in sandbox.run([Job(p, own) for p in problems]):
        assert not result.passed and result.status is Status.SANDBOX_ERROR, result.detail
    with pytest.raises(DataError, match="tests.test_code' defines no `class TestCases"):
        problem_from_dict({"task_id": "x", "statement": "s", "tests": {"kind": "unittest", "test_code": "# x"}})


@pytest.mark.sandbox
def test_inherited_test_methods_are_expected_too(sandbox):
    code = ("import unittest\nclass Base(unittest.TestCase):\n    def test_a(self):\n"
            "        self.assertEqual(task_func(2), 4)\nclass TestCases(Base):\n    pass\n")
    right, wrong = sandbox.run([Job(_problem(code), RIGHT), Job(_problem(code), WRONG)])
    assert right.passed and right.tests_total == 1, right.detail
    assert not wrong.passed and wrong.tests_total == 1


@pytest.mark.sandbox
def test_failing_subtests_and_memory_errors(sandbox):
    code = ("import unittest\nclass TestCases(unittest.TestCase):\n    def test_sub(self):\n"
            "        for v in ('a.b', 'c'):\n            with self.subTest(v=v):\n"
            "                self.assertEqual(task_func(v), v)\n    def test_ok(self):\n        pass\n")
    wrong = "def task_func(v):\n    if v == 'c':\n        raise KeyError(v)\n    return 0\n"
    memory = "def task_func(v):\n    raise MemoryError\n"
    failed, oom = sandbox.run([Job(_problem(code), wrong), Job(_problem(code), memory)])
    assert (failed.passed, failed.tests_passed, failed.tests_total) == (False, 1, 2)
    assert failed.detail.startswith("test_sub:") and "AssertionError" in failed.detail
    assert oom.status is Status.MEMORY_EXCEEDED and oom.tests_total == 2


@pytest.mark.sandbox
def test_the_kinds_own_time_limit_applies_without_any_flag():
    """SandboxConfig's default per-test limit is 4 s; a unittest task gets BigCodeBench's 241 s."""
    code = "import unittest\nclass TestCases(unittest.TestCase):\n    def test_slow(self):\n        task_func()\n"
    slow = "import time\ndef task_func():\n    time.sleep(5)\n"
    with Sandbox(SandboxConfig(workers=1)) as sb:
        (result,) = sb.run([Job(_problem(code), slow)])
    assert result.passed, result.detail


def test_memory_cap_is_shared_by_the_workers_with_a_warning(monkeypatch):
    monkeypatch.setattr(pool_module, "memory_available_mb", lambda: 16000)
    sb = Sandbox.__new__(Sandbox)  # no workers: only the limit arithmetic
    sb.config, sb._memory_warned = SandboxConfig(workers=4), set()
    with pytest.warns(RuntimeWarning, match="4096 MiB .* instead of their benchmark's 30720 MiB"):
        limits = sb._kind_limits(TestKind.UNITTEST)
    assert limits["memory_mb"] == 4096 and limits["timeout_per_program_s"] == 241.0  # 16000 / 4 < the default
    sb.config = SandboxConfig(workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sb._kind_limits(TestKind.UNITTEST)["memory_mb"] == 16000


@pytest.mark.sandbox
def test_without_isolation_each_job_gets_its_own_directory_removed_afterwards():
    code = ("import os, unittest\nclass TestCases(unittest.TestCase):\n    def test_cwd(self):\n"
            "        self.assertFalse(os.path.exists('marker'))\n        open('marker', 'w').close()\n"
            "        self.fail(os.getcwd())\n")
    with Sandbox(SandboxConfig(workers=1, isolation="none", timeout_per_program_s=20.0)) as sb:
        first, second = sb.run([Job(_problem(code), RIGHT), Job(_problem(code), RIGHT)])
        third, = sb.run([Job(_problem(code), RIGHT)])  # the spawner removes a directory at the next job
    dirs = [r.detail.rsplit("AssertionError: ", 1)[-1].strip() for r in (first, second)]
    assert all(d.startswith("/") and "pgrpo-job-" in d for d in dirs) and dirs[0] != dirs[1], (first.detail,
                                                                                             second.detail)
    assert not os.path.exists(dirs[0]) and third.tests_total == 1


@pytest.mark.sandbox
def test_a_runner_killed_by_its_cpu_limit_is_a_timeout():
    """RLIMIT_CPU ends a multi-threaded task before the wall clock: SIGXCPU (or the hard
    limit's SIGKILL) is reported as a timeout, not a runtime error. Without isolation the
    runner can raise the signal itself."""
    burn = "import os, signal\ndef task_func(x):\n    os.kill(os.getpid(), signal.SIGXCPU)\n"
    with Sandbox(SandboxConfig(workers=1, isolation="none", timeout_per_program_s=20.0)) as sb:
        (result,) = sb.run([Job(_problem(), burn)])
    assert result.status is Status.TIMEOUT and "CPU time limit" in result.detail, result.detail


def test_no_prelude_for_unittest_answers():
    problem = _problem()
    program = program_from_code(problem, "def task_func(x):\n    return Counter([x])\n")
    assert PRELUDE_IMPORTS not in program and program.startswith("def task_func")


def test_a_flag_set_to_its_default_value_still_wins_over_the_kinds_limits():
    import argparse

    from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args
    from pgrpo.sandbox.kinds import effective_limits, job_limits

    parser = argparse.ArgumentParser()
    add_sandbox_arguments(parser)
    config = sandbox_config_from_args(parser.parse_args(["--sandbox-memory-mb", "4096"]))
    assert config.explicit == frozenset({"memory_mb"}) and config.model_dump() == SandboxConfig().model_dump()
    limits = effective_limits(config, TestKind.UNITTEST)
    assert (limits["memory_mb"], limits["timeout_per_program_s"]) == (4096, 241.0)
    assert "explicit" not in job_limits(config) and "--sandbox-explicit" not in parser.format_help()


@pytest.mark.sandbox
def test_trusted_tests_may_change_data_on_their_classes(sandbox):
    code = ("import unittest\nunittest.TestCase.maxDiff = None\nclass TestCases(unittest.TestCase):\n"
            "    data = None\n    @classmethod\n    def setUpClass(cls):\n        cls.data = 2\n"
            "    def test_one(self):\n        self.assertEqual(task_func(self.data), 4)\n")
    right, wrong = sandbox.run([Job(_problem(code), RIGHT), Job(_problem(code), WRONG)])
    assert right.passed, right.detail
    assert not wrong.passed


def test_test_code_too_long_to_parse_in_the_worker_is_refused():
    from pgrpo.data.unittest_suite import MAX_TEST_CODE_CHARS, unittest_names

    huge = "import unittest\nclass TestCases(unittest.TestCase):\n    def test_a(self):\n        pass\n"
    huge += "X = 0\n" * (MAX_TEST_CODE_CHARS // 6 + 1)
    assert unittest_names(huge) == ()  # not parsed at all (trusted processes have no rlimits)
    problem = Problem("big/1", "f", Tests(TestKind.UNITTEST, test_code=huge), entry_point="f")
    with Sandbox(SandboxConfig(workers=1)) as box:
        result = box.run([Job(problem, "def f():\n    return 1\n")], progress=False)[0]
    assert result.status is Status.SANDBOX_ERROR and "over the 65536 the harness parses" in result.detail
