"""pgrpo.verify behind the reward evaluator: parser + sandbox (code), math answers."""

from __future__ import annotations

import pytest

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.parsing import parse_math_response
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.verify import Verifier

ADD = Problem(
    task_id="T/add", statement='def add(a, b):\n    """Return a + b."""\n',
    tests=Tests(kind=TestKind.HUMANEVAL, test_code="def check(candidate):\n    assert candidate(1, 2) == 3\n"),
    starter_code='def add(a, b):\n    """Return a + b."""\n', entry_point="add",
)


def response(reasoning: str, code: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n<answer>\n```python\n{code}\n```\n</answer>"


class CountingRM:
    def __init__(self) -> None:
        self.reasonings: list[str] = []

    def __call__(self, queries):
        self.reasonings.extend(q.reasoning for q in queries)
        return [1.0 for _ in queries]  # the highest possible score for everything


@pytest.mark.sandbox
@pytest.mark.slow
def test_gate_with_real_parser_and_sandbox():
    from pgrpo.sandbox import SandboxConfig

    good = response("Add the two numbers.", "def add(a, b):\n    return a + b")
    bad = response("A brilliant, flawless argument.", "def add(a, b):\n    return a - b")
    broken = "I forgot the format. def add(a, b): return a + b"
    rm = CountingRM()
    with Verifier(SandboxConfig(workers=1, timeout_per_test_s=3.0, memory_mb=1024)) as verifier:
        ev = RewardEvaluator({"T/add": ADD}, verifier, rm,
                             mode="posterior", group_size=3)
        batch, _ = ev.evaluate(["T/add"] * 3, [good, bad, broken])
    assert batch.column("outcome") == [1.0, 0.0, 0.0]
    assert batch.column("format") == [1.0, 1.0, 0.0]
    assert rm.reasonings == ["Add the two numbers."]  # the failing completion never reached the RM
    assert batch.column("total") == [3.0, 1.0, 0.0]
    assert batch.rewards[1].status != "passed"


def test_math_parse_and_format():
    ok = parse_math_response("<think>2+2 is 4</think>\n<answer>\\boxed{4}</answer>")
    assert ok.format_ok and ok.reasoning == "2+2 is 4" and ok.answer == "\\boxed{4}"
    assert not parse_math_response("<think>x</think><answer>4</answer>").format_ok  # no box
    assert not parse_math_response("<think></think><answer>\\boxed{4}</answer>").format_ok
    assert not parse_math_response("<think>a</think><think>b</think><answer>\\boxed{4}</answer>").format_ok
    assert parse_math_response("a</think><answer>\\boxed{1}</answer>", think_prefilled=True).format_ok
    broken = parse_math_response("so the answer is \\boxed{7}")
    assert not broken.format_ok and "\\boxed{7}" in broken.answer
    # A box only in the reasoning, with an empty answer, is no answer (training and evaluation agree).
    assert parse_math_response("<think>\\boxed{7}</think><answer></answer>").answer == ""


def test_math_outcome_by_equivalence():
    from pgrpo.data.math import MathProblem

    gold = MathProblem("m1", "What is 1/2 as a fraction?", "\\frac{1}{2}")
    texts = ["<think>half</think><answer>\\boxed{0.5}</answer>", "<think>h</think><answer>\\boxed{3}</answer>",
             "<think>h</think><answer>no box</answer>"]
    results = Verifier()([(gold, text) for text in texts])
    assert [r.passed for r in results] == [True, False, False]
    assert results[2].status == "no_answer"


def test_math_loader_refuses_options_instead_of_ignoring_them(fixtures_dir):
    from pgrpo.errors import DataError
    from pgrpo.verify import MathTask

    source = f"{fixtures_dir}/train/math.jsonl"
    assert len(MathTask.load(source, format=None)) == 2  # None: not given
    with pytest.raises(DataError, match="math problems take no loader options, got format, private_tests"):
        MathTask.load(source, format="lcb", private_tests=True)
