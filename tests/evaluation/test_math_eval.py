"""Math evaluation: flexible data keys, answer checking on hand-written responses, pass@1 and avg@k."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import pytest

from pgrpo.data.math import MathProblem, load_math_problems, math_messages
from pgrpo.errors import DataError
from pgrpo.evaluation.benchmarks import load_benchmark
from pgrpo.evaluation.runner import EvalConfig, evaluate
from pgrpo.llm.base import ChatBackend, ChatRequest, ChatResult
from pgrpo.verify import verify

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures", "evaluation")
MATH = os.path.join(FIX, "math_tiny.jsonl")


def test_flexible_keys(tmp_path):
    problems = load_math_problems(MATH)
    assert [(p.task_id, p.answer) for p in problems] == [
        ("m1", "\\frac{3}{4}"), ("m2", "1024"), ("m3", "2"), ("m4", "2")]  # m3: boxed in `solution`
    assert problems[3].statement.startswith("What is sqrt(2)")  # `question` key
    aime = load_math_problems(os.path.join(FIX, "aime_tiny.json"))
    assert (aime[0].task_id, aime[0].statement, aime[0].answer) == ("2024-I-1", "AIME style: 6*7?", "42")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem": "p", "solution": "no box here"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: no gold answer"):
        load_math_problems(str(bad))
    bad.write_text(json.dumps({"answer": "1"}) + "\n")
    with pytest.raises(DataError, match="no problem text"):
        load_math_problems(str(bad))


@pytest.mark.parametrize(("response", "gold", "passed"), [
    ("so the sum is \\boxed{\\frac{3}{4}}", "\\frac{3}{4}", True),
    ("so the sum is \\boxed{0.75}", "\\frac{3}{4}", True),            # decimal vs fraction
    ("\\boxed{3/4}", "\\frac{3}{4}", True),
    ("<think>2^10</think><answer>\\boxed{1024}</answer>", "1024", True),
    ("first \\boxed{7} then corrected: \\boxed{1024}", "1024", True),  # last box counts
    ("\\boxed{\\dfrac{1}{2}}", "0.5", True),
    ("\\boxed{1023}", "1024", False),                                  # wrong
    ("the answer is 1024", "1024", False),                             # no box
])
def test_math_verdicts(response, gold, passed):
    verdict = verify(MathProblem("t", "q", gold), response)
    assert verdict.passed is passed
    if "boxed" not in response:
        assert verdict.status == "no_answer" and not verdict.format_ok
    elif not passed:
        assert verdict.status == "wrong_answer" and "1023" in verdict.detail


class ScriptedBackend(ChatBackend):
    """Returns fixed responses per problem text (looked up by substring)."""

    name = "scripted"
    model = "scripted"

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        out = []
        for req in requests:
            text = req.messages[-1]["content"]
            key = next(k for k in self.script if k in text)
            out.append(ChatResult(self.script[key][:req.n]))
        return out


def test_math_end_to_end_pass_at_1_and_avg_at_k(tmp_path):
    script = {
        "1/2 + 1/4": ["<think>add</think><answer>\\boxed{\\frac{3}{4}}</answer>", "\\boxed{0.75}"],
        "2^10": ["\\boxed{1024}", "\\boxed{1000}"],
        "x+1=3": ["\\boxed{5}", "no idea"],
        "sqrt(2)": ["\\boxed{2}", "\\boxed{2.0}"],
    }
    config = EvalConfig(benchmarks=["math500"], out_dir=str(tmp_path), model="scripted", n=2, temperature=0.7,
                        data={"math500": MATH}, ks=(1, 2), progress=False)
    outcome = evaluate(config, backend=ScriptedBackend(script))
    (bench,) = outcome.summary.benchmarks
    # per-task correct counts: 2, 1, 0, 2 of 2
    assert bench.avg_at_n == pytest.approx(5 / 8)
    assert bench.pass_at_k[1] == pytest.approx(5 / 8)
    assert bench.pass_at_k[2] == pytest.approx(3 / 4)
    assert bench.statuses == {"no_answer": 1, "passed": 5, "wrong_answer": 2}
    assert outcome.summary.token_counter == "whitespace"  # "scripted" is no loadable tokenizer
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["benchmarks"][0]["pass_at_k"]["pass@1"] == pytest.approx(5 / 8)
    assert "| math500 | 4 | 8 | 62.5 | 75.0 | 62.5 |" in (tmp_path / "summary.md").read_text()
    results = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(results) == 8 and all(r["benchmark"] == "math500" for r in results)

    # --rescore re-checks the same samples from disk and gets the same numbers.
    rescored = evaluate(EvalConfig(benchmarks=["math500"], out_dir=str(tmp_path), rescore=True,
                                   data={"math500": MATH}, ks=(1, 2), progress=False))
    assert rescored.summary.benchmarks[0].pass_at_k == bench.pass_at_k and rescored.checked == 8
    assert rescored.generation is None


def test_math_prompt_styles():
    p = load_benchmark("file:" + MATH)[0].task
    assert isinstance(p, MathProblem)
    pgrpo_msgs, plain_msgs = math_messages(p, "pgrpo"), math_messages(p, "plain")
    assert "<think>" in pgrpo_msgs[0]["content"] and len(plain_msgs) == 1
    assert all("\\boxed{}" in m[-1]["content"] for m in (pgrpo_msgs, plain_msgs))
