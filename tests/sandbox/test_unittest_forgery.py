"""Issue #21: each way a wrong program forged a pass of the "unittest" kind (BigCodeBench) now fails or is
refused, through the engine, through `pgrpo evaluate --rescore` and through the RL reward path; the right
answers (and the fixture's canonical solutions, see tests/evaluation/test_bigcodebench.py) still pass."""

from __future__ import annotations

import json

import pytest

from pgrpo.cli import main
from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.schema import problem_to_dict
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.sandbox.pool import Sandbox
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import Job
from pgrpo.train.trl_hooks import make_reward_funcs
from pgrpo.verify import Verifier

TESTS = """import unittest
class TestCases(unittest.TestCase):
    def test_one(self):
        self.assertEqual(task_func(2), 4)
    def test_two(self):
        expected = 9
        self.assertEqual(task_func(3), expected)
"""
RIGHT = "def task_func(x):\n    return x * x\n"
WRONG = "def task_func(x):\n    return 0\n"
NUMPY_TESTS = """import unittest
import numpy as np
import pandas as pd
class TestCases(unittest.TestCase):
    def test_array(self):
        np.testing.assert_array_equal(task_func(3)[0], np.array([0, 1, 4]))
    def test_frame(self):
        pd.testing.assert_frame_equal(task_func(3)[1], pd.DataFrame({"sq": [0, 1, 4]}))
    def test_equals(self):
        self.assertTrue(task_func(3)[1].equals(pd.DataFrame({"sq": [0, 1, 4]})))
"""
NUMPY_RIGHT = ("import numpy as np\nimport pandas as pd\ndef task_func(n):\n"
               "    a = np.arange(n) ** 2\n    return a, pd.DataFrame({'sq': a})\n")
NUMPY_WRONG = "import numpy as np\nimport pandas as pd\ndef task_func(n):\n    return np.zeros(n), pd.DataFrame({'sq': [9]})\n"
SKIP_TESTS = """import unittest
def require(flag):
    if not flag:
        raise unittest.SkipTest("needs the flag")
class TestCases(unittest.TestCase):
    def setUp(self):
        if False:
            self.skipTest("never")
    def test_one(self):
        self.assertEqual(task_func(2), 4)
"""

# 1. no tampering at all: values whose comparison the program wrote
VALUES = {
    "int subclass always equal": "class E(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
                                 "def task_func(x):\n    return E(0)\n",
    "any class always equal": "class E:\n    def __eq__(self, o):\n        return True\n"
                              "def task_func(x):\n    return E()\n",
    "__eq__ aliased to a builtin": "E = type('E', (int,), {'__eq__': int.__ne__, '__hash__': int.__hash__})\n"
                                   "def task_func(x):\n    return E(1)\n",
    "configured Mock": "from unittest import mock\ndef task_func(x):\n    m = mock.MagicMock()\n"
                       "    m.__eq__.return_value = True\n    return m\n",
    "mock.ANY": "from unittest import mock\ndef task_func(x):\n    return mock.ANY\n",
    "list of always-equal": "class E:\n    __eq__ = lambda s, o: True\ndef task_func(x):\n    return [E()][0]\n",
}
# 2. the expected value read from the test: frames, tracebacks, gc, trace hooks, ctypes, code objects, /proc
INTROSPECTION = {
    "sys._getframe": "import sys\ndef task_func(x):\n    return sys._getframe(1).f_locals.get('expected', 4)\n",
    "inspect.currentframe": "import inspect\ndef task_func(x):\n    return inspect.currentframe().f_back.f_locals.get('expected', 4)\n",
    "inspect.stack": "import inspect\ndef task_func(x):\n    return inspect.stack()[1].frame.f_locals.get('expected', 4)\n",
    "traceback frame": "def task_func(x):\n    try:\n        raise ValueError\n    except ValueError as e:\n"
                       "        return e.__traceback__.tb_frame.f_back.f_locals.get('expected', 4)\n",
    "traceback.walk_stack": "import traceback\ndef task_func(x):\n"
                            "    return [f for f, _ in traceback.walk_stack(None)][1].f_locals.get('expected', 4)\n",
    "gc.get_referrers": "import gc\ndef task_func(x):\n    gc.get_referrers(task_func)\n    return 4\n",
    "gc.get_objects": "import gc\ndef task_func(x):\n    gc.get_objects()\n    return 4\n",
    "sys._current_frames": "import sys\ndef task_func(x):\n    sys._current_frames()\n    return 4\n",
    "settrace": "import sys\nsys.settrace(lambda *a: None)\n" + WRONG,
    "setprofile in the call": "import sys\ndef task_func(x):\n    sys.setprofile(lambda *a: None)\n    return 0\n",
    "ctypes": "import ctypes\n" + WRONG,
    "test bytecode": "def task_func(x):\n    code = globals()['TestCases'].test_one.__code__\n"
                     "    return [c for c in code.co_consts if isinstance(c, int) and c != x][0]\n",
    "dis of the test": "import dis\ndef task_func(x):\n    list(dis.get_instructions(globals()['TestCases'].test_one))\n"
                       "    return 4\n",
    "/proc/self/fd": "import os\ndef task_func(x):\n    os.listdir('/proc/self/fd')\n    return 0\n",
    "/proc/self/mem": "def task_func(x):\n    open('/proc/self/mem', 'rb')\n    return 0\n",
    "signal handler's frame": "import signal\nseen = []\ndef task_func(x):\n"
                              "    signal.signal(signal.SIGUSR1, lambda s, f: seen.append(f))\n"
                              "    signal.raise_signal(signal.SIGUSR1)\n"
                              "    return seen[0].f_back.f_locals.get('expected', 4)\n",
    "the original signal.signal": "import signal\ndef task_func(x):\n"
                                  "    [c.cell_contents for c in signal.signal.__closure__ if hasattr(c.cell_contents, 'send')]"
                                  "[0].send((signal.SIGUSR1, lambda s, f: None))\n    return 4\n",
    "os.fork probe": "import os\ndef task_func(x):\n    os.fork()\n    return 0\n",
    "code object claiming the test file": "def task_func(x):\n"
                                          "    exec(compile('r = 4', '__test__.py', 'exec'), globals())\n    return 4\n",
}
# 3./4./5. state the old guard did not snapshot, modules it did not watch, check-then-use gaps
STATE = {
    "expected-failure flag on TestCase": "import unittest\nunittest.TestCase.__unittest_expecting_failure__ = True\n"
                                         + WRONG,
    "expected-failure flag set during a test": "def task_func(x):\n"
                                               "    globals()['TestCases'].__unittest_expecting_failure__ = True\n"
                                               "    return 0\n",
    "assert method's defaults": "import unittest\ndef task_func(x):\n"
                                "    unittest.TestCase.assertEqual.__defaults__ = (0,)\n    return 0\n",
    "assert method's code": "import unittest\ndef task_func(x):\n"
                            "    unittest.TestCase.assertEqual.__code__ = (lambda self, a, b, msg=None: None).__code__\n"
                            "    return 0\n",
    "new global in unittest.case": "import unittest.case\nunittest.case.__unittest_skip_all__ = True\n" + WRONG,
    "patched assertEqual in the call": "import unittest\ndef task_func(x):\n"
                                       "    unittest.TestCase.assertEqual = lambda *a, **k: None\n    return 0\n",
    "patched _Outcome": "import unittest.case\nclass O(unittest.case._Outcome):\n    pass\n"
                        "unittest.case._Outcome = O\n" + WRONG,
    "swapped sys.modules['unittest']": "import sys, types\nfake = types.ModuleType('unittest')\n"
                                       "class TestCase:\n    pass\nfake.TestCase = TestCase\nsys.modules['unittest'] = fake\n"
                                       + WRONG,
    "module __builtins__ with a __build_class__ that rewrites the tests": (
        "import builtins\n"
        "def _build(func, name, *bases, **kw):\n"
        "    cls = builtins.__build_class__(func, name, *bases, **kw)\n"
        "    for key in list(vars(cls)):\n"
        "        if key.startswith('test'):\n"
        "            setattr(cls, key, lambda self: None)\n"
        "    return cls\n"
        "__builtins__ = dict(vars(builtins), __build_class__=_build)\n" + WRONG),
    "json encoder at report time": "import json\njson.JSONEncoder.encode = lambda self, o: '{\"t\": \"done\"}'\n" + WRONG,
    "__init_subclass__ that removes itself": (
        "import unittest\n"
        "def hook(cls, **kw):\n"
        "    for name in list(vars(cls)):\n"
        "        if name.startswith('test'):\n"
        "            setattr(cls, name, lambda self: None)\n"
        "    del unittest.TestCase.__init_subclass__\n"
        "unittest.TestCase.__init_subclass__ = classmethod(hook)\n" + WRONG),
    "trace function while the class is built": "import sys\ndef t(*a):\n    return t\nsys.settrace(t)\n" + WRONG,
    "_ShouldStop from the program": "import unittest.case\ndef task_func(x):\n    raise unittest.case._ShouldStop()\n",
    "skip from the program": "import unittest\ndef task_func(x):\n    raise unittest.SkipTest('x')\n",
}
# 6. the report channel
CHANNEL = {
    "fstat scan and forged lines": (
        "import os, stat\ndef task_func(x):\n"
        "    for fd in range(3, 1024):\n"
        "        try:\n            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        "                os.write(fd, b'{\"t\":\"test\",\"name\":\"test_one\",\"ok\":true}\\n{\"t\":\"done\"}\\n')\n"
        "        except OSError:\n            pass\n"
        "    return 0\n"),
    "reporter through TestResult.__subclasses__": (
        "import unittest\ndef task_func(x):\n"
        "    for cls in unittest.TestResult.__subclasses__():\n"
        "        for f in vars(cls).values():\n"
        "            for cell in getattr(f, '__closure__', None) or ():\n"
        "                if callable(cell.cell_contents):\n"
        "                    try:\n                        cell.cell_contents({'t': 'done'})\n"
        "                    except Exception:\n                        pass\n"
        "    return 0\n"),
    "runner events sent by the program": "import sys\ndef task_func(x):\n"
                                         "    sys.audit('pgrpo.unittest', 'return')\n    return 0\n",
}


def _problem(test_code: str = TESTS, task_id: str = "t") -> Problem:
    return Problem(task_id=task_id, statement="s", entry_point="task_func",
                   tests=Tests(kind=TestKind.UNITTEST, test_code=test_code))


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(workers=2, timeout_per_program_s=30.0, memory_mb=4096)) as sb:
        yield sb


@pytest.mark.sandbox
@pytest.mark.parametrize("attacks", [VALUES, INTROSPECTION, STATE, CHANNEL], ids=["values", "introspection",
                                                                                "state", "channel"])
def test_every_forgery_class_fails_and_the_right_answer_passes(sandbox, attacks):
    programs = {"right": RIGHT, **attacks}
    results = dict(zip(programs, sandbox.run([Job(_problem(), p) for p in programs.values()])))
    assert results["right"].passed and results["right"].tests_total == 2, results["right"].detail
    for name, result in results.items():
        if name != "right":
            assert not result.passed and result.status.value != "passed", (name, result.detail)
            assert result.tests_passed < result.tests_total, (name, result.detail)


@pytest.mark.sandbox
def test_library_oracles_cannot_be_patched_or_fooled(sandbox):
    numpy_attacks = {
        "np.testing patched": NUMPY_WRONG.replace("def task_func", "np.testing.assert_array_equal = lambda *a, **k: None\n"
                                                  "pd.testing.assert_frame_equal = lambda *a, **k: None\ndef task_func"),
        "patched in the call": NUMPY_WRONG.replace("    return", "    np.testing.assert_array_equal = lambda *a, **k: None\n"
                                                   "    pd.DataFrame.equals = lambda s, o: True\n    return"),
        "instance shadows equals": "import numpy as np\nimport pandas as pd\ndef task_func(n):\n"
                                   "    df = pd.DataFrame({'sq': [9]})\n    object.__setattr__(df, 'equals', lambda o: True)\n"
                                   "    return np.arange(n) ** 2, df\n",
        "ndarray subclass": "import numpy as np\nimport pandas as pd\nclass A(np.ndarray):\n"
                            "    def __array_function__(self, *a, **k):\n        return None\n"
                            "def task_func(n):\n    return np.zeros(n).view(A), pd.DataFrame({'sq': [9]})\n",
        "import hook serving a fake numpy.testing": (
            "import sys, types, numpy as np, pandas as pd\n"
            "class F:\n    def find_spec(self, name, path=None, target=None):\n        return None\n"
            "sys.meta_path.insert(0, F())\ndel sys.modules['numpy.testing']\n"
            "def task_func(n):\n    return np.zeros(n), pd.DataFrame({'sq': [9]})\n"),
    }
    programs = {"right": NUMPY_RIGHT, "wrong": NUMPY_WRONG, **numpy_attacks}
    results = dict(zip(programs, sandbox.run([Job(_problem(NUMPY_TESTS), p) for p in programs.values()])))
    assert results["right"].passed and results["right"].tests_total == 3, results["right"].detail
    for name, result in results.items():
        if name != "right":
            assert not result.passed, (name, result.detail)


@pytest.mark.sandbox
def test_a_skip_counts_only_where_the_test_code_skips(sandbox):
    attacks = {
        "SkipTest from the program (setUp mentions skipTest)": "import unittest\ndef task_func(x):\n"
                                                                "    raise unittest.SkipTest('no')\n",
        "the test code's own skip helper, called by the program": "def task_func(x):\n"
                                                                   "    globals()['require'](False)\n",
        "skipTest on the test instance": "import unittest\ndef task_func(x):\n"
                                         "    unittest.TestCase.skipTest(None, 'x')\n",
    }
    programs = {"right": RIGHT, **attacks}
    results = dict(zip(programs, sandbox.run([Job(_problem(SKIP_TESTS), p) for p in programs.values()])))
    assert results["right"].passed, results["right"].detail
    for name, result in results.items():
        if name != "right":
            assert not result.passed, (name, result.detail)
    legit = TESTS + "    def test_gpu(self):\n        require(False)\n"
    legit = legit.replace("import unittest\n", "import unittest\ndef require(flag):\n    if not flag:\n"
                                               "        raise unittest.SkipTest('no gpu')\n", 1)
    legit += "    @unittest.skipIf(True, 'old')\n    def test_old(self):\n        self.fail()\n"
    legit += "    @unittest.expectedFailure\n    def test_known_bug(self):\n        self.assertEqual(1, 2)\n"
    (result,) = sandbox.run([Job(_problem(legit), RIGHT)])
    # the helper-raised skip is the test code's own, but test_gpu's body does not mention a skip: the
    # harness's coarse per-method rule still refuses it (conservative), so only 4 of 5 pass
    assert (result.tests_passed, result.tests_total) == (4, 5), result.detail


SAMPLE = {k: v for d in (VALUES, INTROSPECTION, STATE, CHANNEL) for k, v in list(d.items())[:3]}


def _response(code: str) -> str:
    return f"<think>plan</think>\n<answer>\n```python\n{code.rstrip()}\n```\n</answer>"


@pytest.mark.slow
@pytest.mark.sandbox
def test_attacks_fail_through_rescore_and_the_reward_path(tmp_path):
    problem = _problem(task_id="T/square")
    responses = [_response(RIGHT), *(_response(code) for code in SAMPLE.values())]
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps(problem_to_dict(problem)) + "\n")
    out = tmp_path / "eval"
    out.mkdir()
    with open(out / "samples.jsonl", "w") as handle:
        for index, response in enumerate(responses):
            handle.write(json.dumps({"benchmark": f"file:{data}", "task_id": problem.task_id, "sample_index": index,
                                     "prompt": [], "response": response}) + "\n")
    assert main(["evaluate", "--rescore", "--benchmarks", f"file:{data}", "--out", str(out), "--no-progress",
                 "--workers", "2", "--sandbox-timeout-per-program-s", "30", "--memory-mb", "4096"]) == 0
    rescored = {r["sample_index"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert rescored[0]["passed"], rescored[0]
    names = list(SAMPLE)
    for index in range(1, len(responses)):
        assert not rescored[index]["passed"], (names[index - 1], rescored[index]["detail"])

    config = SandboxConfig(workers=2, timeout_per_program_s=30.0, memory_mb=4096)
    with Verifier(config) as verifier:
        evaluator = RewardEvaluator({problem.task_id: problem}, verifier, None,
                                    mode="outcome", group_size=1)
        extra: dict[str, list] = {}
        _, outcome, _ = [f(prompts=[""] * len(responses), completions=responses,
                           task_id=[problem.task_id] * len(responses), log_extra=extra.__setitem__)
                         for f in make_reward_funcs(evaluator)]
    assert outcome[0] == 1.0, extra["status"][0]
    assert all(r == 0.0 for r in outcome[1:]), list(zip(names, outcome[1:], extra["status"][1:]))
    assert [s != "passed" for s in extra["status"][1:]] == [True] * len(names)


LEGIT = {
    "logging with stack_info": "import logging\nlog = logging.getLogger('x')\n"
                               "def task_func(x):\n    log.warning('w', stack_info=True)\n    return x * x\n",
    "warnings with stacklevel": "import warnings\ndef task_func(x):\n"
                                "    warnings.warn('x', DeprecationWarning, stacklevel=2)\n    return x * x\n",
    "pandas' find_stack_level": "import warnings\nfrom pandas.util._exceptions import find_stack_level\n"
                                "def task_func(x):\n    warnings.warn('x', FutureWarning, stacklevel=find_stack_level())\n"
                                "    return x * x\n",
    "namedtuple and dataclass": "from collections import namedtuple\nfrom dataclasses import dataclass\n"
                                "P = namedtuple('P', 'v')\n@dataclass\nclass D:\n    v: int\n"
                                "def task_func(x):\n    return D(P(x * x).v).v\n",
    "inspect.signature and own __code__": "import inspect\ndef helper(v):\n    return v\ndef task_func(x):\n"
                                          "    assert str(inspect.signature(task_func)) == '(x)'\n"
                                          "    return x * x * helper.__code__.co_argcount\n",
    "threads, subprocess, exec": "import subprocess, concurrent.futures as cf\ndef task_func(x):\n"
                                 "    subprocess.run(['true'])\n    ns = {}\n    exec('def g(v): return v * v', ns)\n"
                                 "    with cf.ThreadPoolExecutor(2) as ex:\n        return list(ex.map(ns['g'], [x]))[0]\n",
    "multiprocessing": "import multiprocessing as mp\ndef sq(v):\n    return v * v\n"
                       "def task_func(x):\n    with mp.Pool(1) as p:\n        return p.map(sq, [x])[0]\n",
    "signal handlers": "import signal\ndef task_func(x):\n    got = []\n"
                       "    signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))\n"
                       "    signal.raise_signal(signal.SIGUSR1)\n    return x * x if got else 0\n",
    "asyncio": "import asyncio\nasync def g(v):\n    await asyncio.sleep(0)\n    return v * v\n"
               "def task_func(x):\n    return asyncio.run(g(x))\n",
}


@pytest.mark.sandbox
def test_ordinary_library_use_is_not_refused(sandbox):
    """What the audit hook must leave alone: frames read by logging / warnings / pandas for their own
    messages, generated namedtuple and dataclass methods, inspect on the program's own functions,
    threads, subprocesses, multiprocessing, exec of the program's own strings, asyncio."""
    results = dict(zip(LEGIT, sandbox.run([Job(_problem(), p) for p in LEGIT.values()])))
    for name, result in results.items():
        assert result.passed, (name, result.detail)
