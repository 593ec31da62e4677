"""One corpus of tricky responses, judged by the RL reward path and by `pgrpo evaluate --rescore`:
the verdicts must be identical, item by item (issue #13: "passed" means one thing everywhere)."""

from __future__ import annotations

import json

import pytest

from pgrpo.cli import main
from pgrpo.data.math import MathProblem
from pgrpo.data.problem import Problem, StdioCase, TestKind, Tests
from pgrpo.data.schema import problem_to_dict
from pgrpo.rewards.batch import RewardEvaluator, Target
from pgrpo.rewards.trl_funcs import make_reward_funcs
from pgrpo.sandbox import SandboxConfig
from pgrpo.verify import Verifier

ADD = Problem(
    task_id="T/add", statement='def add(a, b):\n    """Return a + b."""\n',
    tests=Tests(kind=TestKind.HUMANEVAL, test_code="def check(candidate):\n    assert candidate(1, 2) == 3\n"
                                                   "    assert candidate(-4, 4) == 0\n"),
    starter_code='def add(a, b):\n    """Return a + b."""\n', entry_point="add",
)
SUM = Problem(task_id="T/sum", statement="Read two integers and print their sum.",
              tests=Tests(kind=TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"), StdioCase("5 -5\n", "0\n"))))
HALF = MathProblem("M/half", "What is 1/2 as a fraction?", "\\frac{1}{2}")
FORTY_TWO = MathProblem("M/42", "What is 6 * 7?", "42")


def fenced(code: str, lang: str = "python") -> str:
    return f"```{lang}\n{code}\n```"


def formatted(reasoning: str, answer: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n<answer>\n{answer}\n</answer>"


GOOD = "def add(a, b):\n    return a + b"
BAD = "def add(a, b):\n    return a - b"
CODE_CORPUS = [
    formatted("Add them.", fenced(GOOD)),
    formatted("Subtract, surely.", fenced(BAD)),
    formatted("Two blocks.", fenced(BAD) + "\n" + fenced(GOOD)),
    f"<think>\nDraft:\n{fenced(GOOD)}\n</think>\n<answer>\n{fenced(BAD)}\n</answer>",
    f"<think>\nThe code:\n{fenced(GOOD)}\n</think>\n<answer>\n</answer>",
    "<think>\nI have no idea.\n</think>\n<answer>\n</answer>",
    "<think>\nAdd them.\n</think>\n<answer>\n```python\ndef add(a, b):\n    return a + b",  # truncated output
    "<think>\nI will add the two numbers and then",  # truncated inside the reasoning
    formatted("加法 ✓ — ünïcödé reasoning", fenced("def add(a, b):\n    # 和 ✓\n    return a + b")),
    formatted("Unicode names.", fenced("def add(a, b):\n    résultat = a + b\n    return résultat")),
    formatted("Loop forever.", fenced("def add(a, b):\n    while True:\n        pass")),  # timeout
    formatted("Exit early.", fenced("import sys\ndef add(a, b):\n    sys.exit(0)")),
    formatted("Claim success.", fenced("def add(a, b):\n    print('passed')\n    return 0")),
    formatted("Broken syntax.", fenced("def add(a, b)\n    return a + b")),
    formatted("Raise.", fenced("def add(a, b):\n    raise ValueError('no')")),
    GOOD + "\n",  # no tags, no fence
    formatted("py tag.", fenced(GOOD, "py")),
    formatted("cpp tag.", fenced(GOOD, "cpp")),
    formatted("Body only.", fenced("return a + b")),
    formatted("With a driver.", fenced(GOOD + "\n\nprint(add(1, 2))\nassert add(1, 1) == 2")),
    "Add them.\n</think>\n<answer>\n" + fenced(GOOD) + "\n</answer>",  # opening <think> missing
    formatted("CRLF.", fenced(GOOD)).replace("\n", "\r\n"),
    formatted("Trailing text.", fenced(GOOD)) + "\nHope this helps!",
    "<think>a</think><think>b</think>\n<answer>\n" + fenced(GOOD) + "\n</answer>",
    formatted("Print a lot.", fenced("def add(a, b):\n    print('x' * 3_000_000)\n    return a + b")),
    formatted("Allocate a lot.", fenced("def add(a, b):\n    x = bytearray(10 ** 11)\n    return a + b")),
    "",
    "   \n\t ",
    formatted("Hard exit.", fenced("import os\ndef add(a, b):\n    os._exit(0)")),
    formatted("Always equal.", fenced("class Eq:\n    def __eq__(self, other):\n        return True\n"
                                      "def add(a, b):\n    return Eq()")),
]
STDIO_GOOD = "a, b = map(int, input().split())\nprint(a + b)"
STDIO_CORPUS = [
    formatted("Read and sum.", fenced(STDIO_GOOD)),
    formatted("Off by one.", fenced("a, b = map(int, input().split())\nprint(a + b + 1)")),
    formatted("Print nothing.", fenced("pass")),
    formatted("Main guard.", fenced("import sys\ndef main():\n    a, b = map(int, sys.stdin.read().split())\n"
                                    "    print(a + b)\n\nif __name__ == '__main__':\n    main()")),
]
MATH_CORPUS = [
    (HALF, formatted("Half.", "\\boxed{\\frac{1}{2}}")),
    (HALF, formatted("Half as a decimal.", "\\boxed{0.5}")),
    (HALF, "<think>\nIt is \\boxed{\\frac{1}{2}}.\n</think>\n<answer>\n</answer>"),  # answer only in <think>
    (HALF, "<think>\nMaybe \\boxed{3}.\n</think>\n<answer>\n\\boxed{\\frac{1}{2}}\n</answer>"),  # boxed in both
    (HALF, "<think>\nIt is \\boxed{\\frac{1}{2}}.\n</think>\n<answer>\n\\boxed{3}\n</answer>"),
    (HALF, formatted("No box.", "1/2")),
    (HALF, formatted("Dfrac.", "\\boxed{\\dfrac{1}{2}}")),
    (FORTY_TWO, "so the answer is \\boxed{42}"),  # no tags at all
    (FORTY_TWO, "<think>\n6 * 7 = \\boxed{42} and then"),  # truncated inside <think>
    (FORTY_TWO, formatted("因为 6×7 = 42 ✓", "\\boxed{42}")),
    (FORTY_TWO, formatted("Two boxes.", "\\boxed{41} no wait \\boxed{42}")),
    (FORTY_TWO, "<think>\n42\n</think>\n<answer></answer>"),
    (FORTY_TWO, formatted("Fullwidth.", "\\boxed{４２}")),
    (FORTY_TWO, "<think>\nhm\n</think>\n\\boxed{42}"),  # no <answer> tags, box after </think>
]
CORPUS = ([(ADD, r) for r in CODE_CORPUS] + [(SUM, r) for r in STDIO_CORPUS] + MATH_CORPUS)
LIMITS = SandboxConfig(workers=2, timeout_per_test_s=2.0, timeout_per_program_s=4.0, memory_mb=1024)


def _rl_verdicts(corpus) -> list[tuple[bool, bool, str, float]]:
    """(passed, format_ok, status, pass_fraction) per response, read off the TRL reward functions."""
    targets = {t.task_id: Target(t.task_id, getattr(t, "statement", ""), t) for t, _ in corpus}
    with Verifier(LIMITS) as verifier:
        evaluator = RewardEvaluator(targets, verifier, None, mode="outcome", group_size=1)
        extra: dict[str, list] = {}
        fmt, outcome, _ = [f(prompts=[""] * len(corpus), completions=[r for _, r in corpus],
                             task_id=[t.task_id for t, _ in corpus], log_extra=extra.__setitem__)
                           for f in make_reward_funcs(evaluator)]
    return [(o == 1.0, f == 1.0, s, p) for o, f, s, p in zip(outcome, fmt, extra["status"], extra["pass_fraction"])]


def _rescore_verdicts(tmp_path, corpus) -> list[tuple[bool, bool, str, float]]:
    """The same responses as an evaluation directory's samples, judged by `pgrpo evaluate --rescore`."""
    code_file, math_file = tmp_path / "code.jsonl", tmp_path / "math.jsonl"
    code_file.write_text("".join(json.dumps(problem_to_dict(p)) + "\n" for p in (ADD, SUM)))
    math_file.write_text("".join(json.dumps({"task_id": m.task_id, "problem": m.problem, "answer": m.answer}) + "\n"
                                 for m in (HALF, FORTY_TWO)))
    benches = {ADD.task_id: f"file:{code_file}", SUM.task_id: f"file:{code_file}",
               HALF.task_id: f"file:{math_file}", FORTY_TWO.task_id: f"file:{math_file}"}
    out = tmp_path / "eval"
    out.mkdir()
    with open(out / "samples.jsonl", "w", encoding="utf-8") as f:
        for i, (task, response) in enumerate(corpus):  # sample_index = corpus position: one sample each
            f.write(json.dumps({"benchmark": benches[task.task_id], "task_id": task.task_id, "sample_index": i,
                                "prompt": [], "response": response}) + "\n")
    assert main(["evaluate", "--rescore", "--benchmarks", f"file:{code_file},file:{math_file}", "--out", str(out),
                 "--no-progress", "--workers", "2", "--timeout", "2", "--sandbox-timeout-per-program-s", "4",
                 "--memory-mb", "1024"]) == 0
    results = {r["sample_index"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert sorted(results) == list(range(len(corpus)))
    return [(r["passed"], r["format_ok"], r["status"], r["pass_fraction"]) for _, r in sorted(results.items())]


@pytest.mark.sandbox
@pytest.mark.slow
def test_rl_reward_and_rescore_agree_item_by_item(tmp_path):
    assert len(CORPUS) >= 40
    rl = _rl_verdicts(CORPUS)
    rescored = _rescore_verdicts(tmp_path, CORPUS)
    for i, ((task, response), a, b) in enumerate(zip(CORPUS, rl, rescored)):
        assert a == b, f"item {i} ({task.task_id}): RL {a} vs evaluate {b}: {response[:80]!r}"
    by_text = {(t.task_id, r): v for (t, r), v in zip(CORPUS, rl)}

    def verdict(task, response):
        return by_text[(task.task_id, response)]

    # Spot checks that the shared verdicts are the right ones.
    assert verdict(ADD, CODE_CORPUS[0])[:3] == (True, True, "passed")
    assert verdict(ADD, CODE_CORPUS[10])[2] == "timeout"
    assert not any(verdict(ADD, CODE_CORPUS[i])[0] for i in (1, 7, 11, 12, 13, 14, 26, 27, 28, 29))
    assert verdict(ADD, CODE_CORPUS[6])[:2] == (True, False)  # truncated output: code runs, format fails
    assert verdict(ADD, CODE_CORPUS[4])[2] == "no_code"  # code only in <think>: the same rule as math
    assert verdict(SUM, STDIO_CORPUS[0])[0] and verdict(SUM, STDIO_CORPUS[3])[0]
    assert verdict(HALF, MATH_CORPUS[2][1])[:3] == (False, False, "no_answer")  # boxed only in <think>
    assert verdict(HALF, MATH_CORPUS[3][1])[:2] == (True, True)
    assert verdict(HALF, MATH_CORPUS[4][1])[2] == "wrong_answer"
    assert verdict(FORTY_TWO, MATH_CORPUS[8][1])[2] == "no_answer"  # truncated inside <think>
    assert verdict(FORTY_TWO, MATH_CORPUS[7][1])[0]
