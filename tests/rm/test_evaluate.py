"""`pgrpo rm eval`: format detection, hand-computed accuracy on fixtures, outputs, evaluator hook."""

from __future__ import annotations

import json
import os

import pytest

from pgrpo.cli import main
from pgrpo.errors import DataError
from pgrpo.rm.benchmarks import load_benchmark
from pgrpo.rm.commands import EVALUATORS
from pgrpo.rm.evaluate import evaluate, render_markdown
from pgrpo.rm.scoring import RewardScorer


class LengthEvaluator:
    """A deterministic stand-in judge: prefers the longer reasoning (ties when equal)."""

    name = "test-length"

    def compare(self, pairs):
        return [(len(p.chosen.reasoning), len(p.rejected.reasoning)) for p in pairs]


EVALUATORS.setdefault("test-length", lambda options: LengthEvaluator())  # an evaluator the CLI can be driven with


def _path(fixtures_dir, name):
    return os.path.join(fixtures_dir, "rm", name)


def test_lcb_rb_format_detected_and_read(fixtures_dir):
    fmt, pairs = load_benchmark(_path(fixtures_dir, "lcb_rb_small.jsonl"))
    assert fmt.name == "lcb-rb" and len(pairs) == 4
    assert pairs[0].chosen.code == "n = int(input())\nprint(n * n)" and pairs[0].pair_id == "q1"
    assert [p.subset for p in pairs] == ["easy", "easy", "medium", "hard"]


def test_rewardbench_subset_filter(fixtures_dir):
    fmt, pairs = load_benchmark(_path(fixtures_dir, "rewardbench_small.jsonl"), subsets=["hep-*", "math-prm"])
    assert fmt.name == "rewardbench"
    assert [p.pair_id for p in pairs] == ["1", "2", "3", "4", "5"]


def test_accuracy_by_hand_on_lcb_rb(fixtures_dir):
    # chosen/rejected reasoning lengths: q1 54>8 win, q2 8<74 loss, q3 45>33 win, q4 19==19 tie.
    fmt, pairs = load_benchmark(_path(fixtures_dir, "lcb_rb_small.jsonl"))
    report, scores = evaluate(LengthEvaluator(), pairs, fmt, "lcb", n_boot=200)
    assert report.overall.accuracy == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    assert report.overall.ties == 1 and report.overall.wins == 2
    assert report.subsets["easy"].accuracy == 0.5 and report.subsets["hard"].accuracy == 0.5
    assert report.overall.ci_low <= report.overall.accuracy <= report.overall.ci_high
    table = render_markdown(report)
    assert "| **overall** | 4 | 62.5 |" in table and "| easy | 2 | 50.0 |" in table


def test_cli_eval_rewardbench_categories_and_outputs(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["rm", "eval", "--data", _path(fixtures_dir, "rewardbench_small.jsonl"),
                 "--evaluator", "test-length", "--out", str(out), "--n-boot", "100"])
    assert code == 0
    rows = [json.loads(line) for line in open(_path(fixtures_dir, "rewardbench_small.jsonl"))]
    outcomes = [1.0 if len(r["chosen"]) > len(r["rejected"]) else 0.5 if len(r["chosen"]) == len(r["rejected"])
                else 0.0 for r in rows]
    results = json.loads((out / "results.json").read_text())
    assert results["overall"]["accuracy"] == pytest.approx(sum(outcomes) / len(outcomes))
    assert results["categories"]["code"]["n"] == 3
    assert results["categories"]["code"]["accuracy"] == pytest.approx(sum(outcomes[:3]) / 3)
    assert results["categories"]["math"]["accuracy"] == pytest.approx(sum(outcomes[3:5]) / 2)
    assert results["subsets"]["chat-easy"]["n"] == 1
    assert (out / "results.md").read_text() in capsys.readouterr().out
    assert len((out / "scores.jsonl").read_text().splitlines()) == 6


def test_cli_eval_with_reward_model_matches_scorer(fixtures_dir, tiny_rm_path, tmp_path):
    path = _path(fixtures_dir, "lcb_rb_small.jsonl")
    assert main(["rm", "eval", "--data", path, "--model", tiny_rm_path, "--out", str(tmp_path)]) == 0
    _, pairs = load_benchmark(path)
    scorer = RewardScorer(tiny_rm_path)
    raw = scorer.raw_scores([item for p in pairs for item in (p.chosen, p.rejected)])
    expected = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(raw[0::2], raw[1::2])) / len(pairs)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["overall"]["accuracy"] == pytest.approx(expected)
    assert results["evaluator"] == "reward-model" and results["format"] == "lcb-rb"


def test_bad_benchmark_lines_name_file_and_line(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b", "subset": "x"}\n'
                    '{"prompt": "p", "chosen": "", "rejected": "b", "subset": "x"}\n')
    with pytest.raises(DataError, match=r"b.jsonl:2: field 'chosen' is empty"):
        load_benchmark(path)
    path.write_text('{"question": "p"}\n')
    with pytest.raises(DataError, match="cannot tell the benchmark format"):
        load_benchmark(path)


def test_unknown_evaluator_is_a_user_error(fixtures_dir, capsys):
    assert main(["rm", "eval", "--data", _path(fixtures_dir, "lcb_rb_small.jsonl"), "--evaluator", "nope"]) == 2
    assert "unknown evaluator 'nope'" in capsys.readouterr().err


def test_empty_lcb_rb_code_means_no_code_section(tmp_path):
    row = {"question_id": "q", "problem": "P", "chosen_reasoning": "good", "chosen_code": "",
           "rejected_reasoning": "bad", "rejected_code": "x = 1"}
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(row) + "\n")
    _, pairs = load_benchmark(str(path))
    pair = pairs[0]
    assert pair.chosen.code is None and pair.rejected.code == "x = 1"
