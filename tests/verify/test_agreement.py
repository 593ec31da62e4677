"""One corpus of tricky responses, each with a hand-written expected verdict, judged by the RL reward
path and by `pgrpo evaluate --rescore`.

Every item is labelled by hand (passed, format_ok, status) from the documented rules (the format in
pgrpo.parsing.response, the harness rules in pgrpo.sandbox.harness): a wrong
verdict fails the test whichever path gives it. The two paths must also agree item by item, pass
fraction included (issue #13: "passed" means one thing everywhere). Every test kind (humaneval,
asserts, call, stdio, unittest) and the math checker are covered.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from pgrpo.cli import main
from pgrpo.data.math import MathProblem
from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
from pgrpo.data.schema import problem_to_dict
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.sandbox import SandboxConfig
from pgrpo.train.trl_hooks import make_reward_funcs
from pgrpo.verify import Task, Verifier


class Label(NamedTuple):
    """The verdict a response must get: outcome, format reward and status."""

    passed: bool
    format_ok: bool
    status: str


PASS = Label(True, True, "passed")
PASS_BAD_FORMAT = Label(True, False, "passed")
FAILED = Label(False, True, "failed")
NO_CODE = Label(False, False, "no_code")
NO_ANSWER = Label(False, False, "no_answer")

ADD = Problem(
    task_id="T/add", statement='def add(a, b):\n    """Return a + b."""\n',
    tests=Tests(kind=TestKind.HUMANEVAL, test_code="def check(candidate):\n    assert candidate(1, 2) == 3\n"
                                                   "    assert candidate(-4, 4) == 0\n"),
    starter_code='def add(a, b):\n    """Return a + b."""\n', entry_point="add",
)
SQUARE = Problem(task_id="T/square", statement="Write square(x), the square of x.",
                 tests=Tests(kind=TestKind.ASSERTS, asserts=("assert square(3) == 9", "assert square(-2) == 4")),
                 entry_point="square")
ABSOLUTE = Problem(task_id="T/abs", statement="Write absolute(x), |x| for an integer x.",
                   tests=Tests(kind=TestKind.CALL, call_cases=(CallCase((-3,), 3), CallCase((4,), 4))),
                   entry_point="absolute")
TWICE = Problem(task_id="T/twice", statement="Write Solution.twice(self, x) returning 2 * x.",
                tests=Tests(kind=TestKind.CALL, call_cases=(CallCase((1,), 2), CallCase((5,), 10)), class_name="Solution"),
                starter_code="class Solution:\n    def twice(self, x: int) -> int:\n        ", entry_point="twice")
SUM = Problem(task_id="T/sum", statement="Read two integers and print their sum.",
              tests=Tests(kind=TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"), StdioCase("5 -5\n", "0\n"))))
SQUARED = Problem(
    task_id="T/squared", statement="Write task_func(n) returning n squared.", entry_point="task_func",
    tests=Tests(kind=TestKind.UNITTEST, test_code=(
        "import unittest\n\n\nclass TestCases(unittest.TestCase):\n"
        "    def test_small(self):\n        self.assertEqual(task_func(2), 4)\n\n"
        "    def test_negative(self):\n        self.assertEqual(task_func(-3), 9)\n")),
)
CODE_TASKS = (ADD, SQUARE, ABSOLUTE, TWICE, SUM, SQUARED)
HALF = MathProblem("M/half", "What is 1/2 as a fraction?", "\\frac{1}{2}")
FORTY_TWO = MathProblem("M/42", "What is 6 * 7?", "42")
MATH_TASKS = (HALF, FORTY_TWO)


def fenced(code: str, lang: str = "python") -> str:
    return f"```{lang}\n{code}\n```"


def formatted(reasoning: str, answer: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n<answer>\n{answer}\n</answer>"


GOOD = "def add(a, b):\n    return a + b"
BAD = "def add(a, b):\n    return a - b"
# (response, its hand-written verdict) for ADD ("humaneval": check(candidate) asserts add(1, 2) == 3, add(-4, 4) == 0)
HUMANEVAL_CORPUS = [
    (formatted("Add them.", fenced(GOOD)), PASS),
    (formatted("Subtract, surely.", fenced(BAD)), FAILED),
    (formatted("Two blocks.", fenced(BAD) + "\n" + fenced(GOOD)), PASS_BAD_FORMAT),  # equal length: the later runs
    (f"<think>\nDraft:\n{fenced(GOOD)}\n</think>\n<answer>\n{fenced(BAD)}\n</answer>", FAILED),  # the answer runs
    (f"<think>\nThe code:\n{fenced(GOOD)}\n</think>\n<answer>\n</answer>", NO_CODE),  # code only in <think>
    ("<think>\nI have no idea.\n</think>\n<answer>\n</answer>", NO_CODE),
    ("<think>\nAdd them.\n</think>\n<answer>\n```python\ndef add(a, b):\n    return a + b", PASS_BAD_FORMAT),  # truncated
    ("<think>\nI will add the two numbers and then", NO_CODE),  # truncated inside the reasoning
    (formatted("加法 ✓ — ünïcödé reasoning", fenced("def add(a, b):\n    # 和 ✓\n    return a + b")), PASS),
    (formatted("Unicode names.", fenced("def add(a, b):\n    résultat = a + b\n    return résultat")), PASS),
    (formatted("Loop forever.", fenced("def add(a, b):\n    while True:\n        pass")), Label(False, True, "timeout")),
    (formatted("Exit early.", fenced("import sys\ndef add(a, b):\n    sys.exit(0)")), Label(False, True, "runtime_error")),
    (formatted("Claim success.", fenced("def add(a, b):\n    print('passed')\n    return 0")), FAILED),
    (formatted("Broken syntax.", fenced("def add(a, b)\n    return a + b")), Label(False, True, "syntax_error")),
    (formatted("Raise.", fenced("def add(a, b):\n    raise ValueError('no')")), Label(False, True, "runtime_error")),
    (GOOD + "\n", PASS_BAD_FORMAT),  # no tags, no fence: all answer, bare code
    (formatted("py tag.", fenced(GOOD, "py")), PASS),
    (formatted("cpp tag.", fenced(GOOD, "cpp")), PASS_BAD_FORMAT),  # the only fence runs; the format wants python
    (formatted("Body only.", fenced("return a + b")), PASS),  # read as the starter's body
    (formatted("With a driver.", fenced(GOOD + "\n\nprint(add(1, 2))\nassert add(1, 1) == 2")), PASS),
    ("Add them.\n</think>\n<answer>\n" + fenced(GOOD) + "\n</answer>", PASS_BAD_FORMAT),  # opening <think> missing
    (formatted("CRLF.", fenced(GOOD)).replace("\n", "\r\n"), PASS),
    (formatted("Trailing text.", fenced(GOOD)) + "\nHope this helps!", PASS_BAD_FORMAT),
    ("<think>a</think><think>b</think>\n<answer>\n" + fenced(GOOD) + "\n</answer>", PASS_BAD_FORMAT),
    (formatted("Print a lot.", fenced("def add(a, b):\n    print('x' * 3_000_000)\n    return a + b")),
     Label(False, True, "output_exceeded")),  # 3 MB over the 1 MiB output limit
    (formatted("Allocate a lot.", fenced("def add(a, b):\n    x = bytearray(10 ** 11)\n    return a + b")),
     Label(False, True, "memory_exceeded")),
    ("", NO_CODE),
    ("   \n\t ", NO_CODE),
    (formatted("Hard exit.", fenced("import os\ndef add(a, b):\n    os._exit(0)")), Label(False, True, "runtime_error")),
    (formatted("Always equal.", fenced("class Eq:\n    def __eq__(self, other):\n        return True\n"
                                      "def add(a, b):\n    return Eq()")), FAILED),  # not a plain value: refused
]
# SQUARE ("asserts"): square(3) == 9, square(-2) == 4
ASSERTS_CORPUS = [
    (formatted("Multiply.", fenced("def square(x):\n    return x * x")), PASS),
    (formatted("Triple?", fenced("def square(x):\n    return 3 * x")), FAILED),  # right on 3, wrong on -2
    (formatted("Attribute.", fenced("def square(x):\n    return x.squared")), Label(False, True, "runtime_error")),
]
# ABSOLUTE ("call"): absolute(-3) == 3, absolute(4) == 4; TWICE ("call", Solution.twice): twice(1) == 2, twice(5) == 10
CALL_CORPUS = [
    (ABSOLUTE, formatted("Negate negatives.", fenced("def absolute(x):\n    return -x if x < 0 else x")), PASS),
    (ABSOLUTE, formatted("Identity.", fenced("def absolute(x):\n    return x")), FAILED),
    (ABSOLUTE, formatted("Forever.", fenced("def absolute(x):\n    while True:\n        pass")),
     Label(False, True, "timeout")),
    (TWICE, formatted("Double.", fenced("class Solution:\n    def twice(self, x: int) -> int:\n        return 2 * x")),
     PASS),
    (TWICE, formatted("Square.", fenced("class Solution:\n    def twice(self, x: int) -> int:\n        return x * x")),
     FAILED),  # right on 1... wrong on 5 (1 of 2)
    (TWICE, formatted("Body only.", fenced("return x + x")), PASS),  # read as the starter method's body
]
STDIO_GOOD = "a, b = map(int, input().split())\nprint(a + b)"
# SUM ("stdio"): "1 2" -> "3", "5 -5" -> "0"
STDIO_CORPUS = [
    (formatted("Read and sum.", fenced(STDIO_GOOD)), PASS),
    (formatted("Off by one.", fenced("a, b = map(int, input().split())\nprint(a + b + 1)")), FAILED),
    (formatted("Print nothing.", fenced("pass")), FAILED),
    (formatted("Main guard.", fenced("import sys\ndef main():\n    a, b = map(int, sys.stdin.read().split())\n"
                                     "    print(a + b)\n\nif __name__ == '__main__':\n    main()")), PASS),
    (formatted("Crash.", fenced("a, b = map(int, input().split())\nprint(a / 0)")), Label(False, True, "runtime_error")),
]
# SQUARED ("unittest", BigCodeBench style): task_func(2) == 4, task_func(-3) == 9; no prelude imports
UNITTEST_CORPUS = [
    (formatted("Square it.", fenced("def task_func(n):\n    return n * n")), PASS),
    (formatted("Double it.", fenced("def task_func(n):\n    return n + n")), FAILED),  # right on 2, wrong on -3
    (formatted("Forgot the import.", fenced("def task_func(n):\n    return int(math.pow(n, 2))")),
     FAILED),  # NameError (answers run as written); an error inside a unittest test is a failed test
]
MATH_CORPUS = [
    (HALF, formatted("Half.", "\\boxed{\\frac{1}{2}}"), PASS),
    (HALF, formatted("Half as a decimal.", "\\boxed{0.5}"), PASS),  # equivalent
    (HALF, "<think>\nIt is \\boxed{\\frac{1}{2}}.\n</think>\n<answer>\n</answer>", NO_ANSWER),  # only in <think>
    (HALF, "<think>\nMaybe \\boxed{3}.\n</think>\n<answer>\n\\boxed{\\frac{1}{2}}\n</answer>", PASS),
    (HALF, "<think>\nIt is \\boxed{\\frac{1}{2}}.\n</think>\n<answer>\n\\boxed{3}\n</answer>",
     Label(False, True, "wrong_answer")),
    (HALF, formatted("No box.", "1/2"), NO_ANSWER),
    (HALF, formatted("Dfrac.", "\\boxed{\\dfrac{1}{2}}"), PASS),
    (FORTY_TWO, "so the answer is \\boxed{42}", PASS_BAD_FORMAT),  # no tags at all: all answer
    (FORTY_TWO, "<think>\n6 * 7 = \\boxed{42} and then", NO_ANSWER),  # truncated inside <think>
    (FORTY_TWO, formatted("因为 6×7 = 42 ✓", "\\boxed{42}"), PASS),
    (FORTY_TWO, formatted("Two boxes.", "\\boxed{41} no wait \\boxed{42}"), PASS),  # the last box counts
    (FORTY_TWO, "<think>\n42\n</think>\n<answer></answer>", NO_ANSWER),
    (FORTY_TWO, formatted("Fullwidth.", "\\boxed{４２}"), Label(False, True, "wrong_answer")),
    (FORTY_TWO, "<think>\nhm\n</think>\n\\boxed{42}", PASS_BAD_FORMAT),  # no <answer> tags: after </think>
]
CORPUS: list[tuple[Task, str, Label]] = [
    *[(ADD, r, label) for r, label in HUMANEVAL_CORPUS], *[(SQUARE, r, label) for r, label in ASSERTS_CORPUS],
    *CALL_CORPUS, *[(SUM, r, label) for r, label in STDIO_CORPUS], *[(SQUARED, r, label) for r, label in UNITTEST_CORPUS],
    *MATH_CORPUS,
]
LIMITS = SandboxConfig(workers=2, timeout_per_test_s=2.0, timeout_per_program_s=4.0, memory_mb=1024)
Verdict = tuple[bool, bool, str, float]  # passed, format_ok, status, pass_fraction


def _rl_verdicts(corpus: list[tuple[Task, str, Label]]) -> list[Verdict]:
    """(passed, format_ok, status, pass_fraction) per response, read off the TRL reward functions."""
    targets = {t.task_id: t for t, _, _ in corpus}
    with Verifier(LIMITS) as verifier:
        evaluator = RewardEvaluator(targets, verifier, None, mode="outcome", group_size=1)
        extra: dict[str, list[Any]] = {}
        fmt, outcome, _ = [f(prompts=[""] * len(corpus), completions=[r for _, r, _ in corpus],
                             task_id=[t.task_id for t, _, _ in corpus], log_extra=extra.__setitem__)
                           for f in make_reward_funcs(evaluator)]
    return [(o == 1.0, f == 1.0, s, p) for o, f, s, p in zip(outcome, fmt, extra["status"], extra["pass_fraction"])]


def _rescore_verdicts(tmp_path: Any, corpus: list[tuple[Task, str, Label]]) -> list[Verdict]:
    """The same responses as an evaluation directory's samples, judged by `pgrpo evaluate --rescore`."""
    code_file, math_file = tmp_path / "code.jsonl", tmp_path / "math.jsonl"
    code_file.write_text("".join(json.dumps(problem_to_dict(p)) + "\n" for p in CODE_TASKS))
    math_file.write_text("".join(json.dumps({"task_id": m.task_id, "problem": m.statement, "answer": m.answer}) + "\n"
                                 for m in MATH_TASKS))
    benches = {**{p.task_id: f"file:{code_file}" for p in CODE_TASKS}, **{m.task_id: f"file:{math_file}" for m in MATH_TASKS}}
    out = tmp_path / "eval"
    out.mkdir()
    with open(out / "samples.jsonl", "w", encoding="utf-8") as f:
        for i, (task, response, _) in enumerate(corpus):  # sample_index = corpus position: one sample each
            f.write(json.dumps({"benchmark": benches[task.task_id], "task_id": task.task_id, "sample_index": i,
                                "prompt": [], "response": response}) + "\n")
    assert main(["evaluate", "--rescore", "--benchmarks", f"file:{code_file},file:{math_file}", "--out", str(out),
                 "--no-progress", "--workers", "2", "--timeout", "2", "--sandbox-timeout-per-program-s", "4",
                 "--memory-mb", "1024"]) == 0
    results = {r["sample_index"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert sorted(results) == list(range(len(corpus)))
    return [(r["passed"], r["format_ok"], r["status"], r["pass_fraction"]) for _, r in sorted(results.items())]


def test_the_corpus_covers_every_test_kind_and_math() -> None:
    kinds = {t.tests.kind for t, _, _ in CORPUS if isinstance(t, Problem)}
    assert kinds == set(TestKind), set(TestKind) - kinds
    assert any(isinstance(t, MathProblem) for t, _, _ in CORPUS)
    labels = {label for _, _, label in CORPUS}
    assert {label.status for label in labels} >= {"passed", "failed", "timeout", "runtime_error", "syntax_error",
                                                   "memory_exceeded", "output_exceeded", "no_code", "no_answer",
                                                   "wrong_answer"}


@pytest.mark.sandbox
@pytest.mark.slow
def test_rl_reward_and_rescore_give_the_hand_labelled_verdicts(tmp_path: Any) -> None:
    rl = _rl_verdicts(CORPUS)
    wrong = [f"item {i} ({task.task_id}): expected {tuple(label)}, RL gave {got[:3]}: {response[:70]!r}"
             for i, ((task, response, label), got) in enumerate(zip(CORPUS, rl)) if got[:3] != tuple(label)]
    assert not wrong, "\n".join(wrong)
    rescored = _rescore_verdicts(tmp_path, CORPUS)
    for i, ((task, response, _), a, b) in enumerate(zip(CORPUS, rl, rescored)):
        assert a == b, f"item {i} ({task.task_id}): RL {a} vs evaluate {b}: {response[:80]!r}"
    # partial credit where one of two tests passes
    assert [v[3] for (t, r, _), v in zip(CORPUS, rl) if "Triple?" in r or "Double it." in r] == [0.5, 0.5]
