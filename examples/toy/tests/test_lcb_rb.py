"""The toy LCB-RB scored per pair category (pgrpo_toy.lcb_rb) and the equal-budget cut of the OD vs
score-based comparison (pgrpo_toy.comparison.equal_pairs)."""

from __future__ import annotations

import json

import pytest

from pgrpo_toy.comparison import equal_pairs
from pgrpo_toy.lcb_rb import PAIR_CATEGORIES, pair_category
from pgrpo_toy.world import Step, ToyTask, canonical_reasoning, reasoning_lines, statement

TRAP = ToyTask("trap", (Step("neg"), Step("mod", 3), Step("abs")))  # skip neg: invalid; skip abs: valid
SAFE = ToyTask("safe", (Step("neg"), Step("square"), Step("add", 3)))  # skip neg: valid


def _lines(task: ToyTask, skipped=frozenset()) -> str:
    return "\n".join(reasoning_lines(task.steps, set(skipped)))


def test_pair_category_by_hand():
    assert PAIR_CATEGORIES == ("invalid_skip_rejected", "skip_chosen", "other")
    wrong_constant = "Step 1: negate x.\nStep 2: square x.\nStep 3: add 4 to x.\nFinally, return x."
    # the rejected side skips negate before mod 3: wrong for x = 1 (-1 % 3 = 2, 1 % 3 = 1)
    assert pair_category(statement(TRAP), canonical_reasoning(TRAP), _lines(TRAP, {0})) == "invalid_skip_rejected"
    # the chosen side skips negate before square: right for every x
    assert pair_category(statement(SAFE), _lines(SAFE, {0}), wrong_constant) == "skip_chosen"
    # neither side skips: a wrong constant decides the label
    assert pair_category(statement(SAFE), canonical_reasoning(SAFE), wrong_constant) == "other"
    # a valid skip on the chosen side and an invalid one on the rejected side: the rejected side's counts first
    assert pair_category(statement(TRAP), _lines(TRAP, {2}), _lines(TRAP, {0})) == "invalid_skip_rejected"
    # a valid skip on the rejected side is no invalid skip
    assert pair_category(statement(SAFE), canonical_reasoning(SAFE), _lines(SAFE, {0})) == "other"
    # not a toy statement
    assert pair_category("Write a sorting function.", _lines(SAFE, {0}), _lines(TRAP, {0})) == "other"


def test_lcb_rb_is_scored_on_the_rm_training_layout_and_per_category(tmp_path, tiny_rm_path):
    # The demo's RM is trained on reasoning-only pairs: LCB-RB sides must be scored without
    # their code (an earlier build appended it, a layout the RM never saw).
    import dataclasses
    import shutil

    from pgrpo.rm.manifest import read_manifest, write_manifest
    from pgrpo.rm.scoring import RewardScorer, RMItem
    from pgrpo_toy.lcb_rb import score_lcb_rb

    rm = tmp_path / "rm"
    shutil.copytree(tiny_rm_path, rm)
    write_manifest(rm, dataclasses.replace(read_manifest(rm), include_code=False))
    sides = [(statement(TRAP), canonical_reasoning(TRAP), _lines(TRAP, {0})),  # invalid_skip_rejected
             (statement(SAFE), _lines(SAFE, {0}), canonical_reasoning(TRAP)),  # skip_chosen
             (statement(SAFE), canonical_reasoning(SAFE), "Step 1: add 1 to x.")]  # other
    rows = [{"question_id": f"q{i}", "problem": problem, "difficulty": "easy", "contest_date": "2024-01-01",
             "chosen_reasoning": chosen, "chosen_code": "def f(x):\n    return x\n",
             "rejected_reasoning": rejected, "rejected_code": "def f(x):\n    pass\n"}
            for i, (problem, chosen, rejected) in enumerate(sides * 2)]
    bench = tmp_path / "lcb_rb.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    score = score_lcb_rb(bench, str(rm), tmp_path / "eval")
    assert score.input_note == "RM input: problem + reasoning (model's pgrpo_rm.json)"
    scorer = RewardScorer(str(rm), max_length=256)
    raw = scorer.raw_scores([RMItem(r["problem"], r[side]) for r in rows
                             for side in ("chosen_reasoning", "rejected_reasoning")])
    wins = [float(c > r) + 0.5 * (c == r) for c, r in zip(raw[0::2], raw[1::2])]
    assert score.n == 6 and score.accuracy == pytest.approx(sum(wins) / 6)
    for k, name in enumerate(PAIR_CATEGORIES):
        assert score.categories[name].n == 2, name
        assert score.categories[name].accuracy == pytest.approx((wins[k] + wins[k + 3]) / 2), name
    scored = [json.loads(line) for line in (tmp_path / "eval" / "scores.jsonl").read_text().splitlines()]
    assert [s["chosen"] for s in scored] == pytest.approx(raw[0::2], abs=1e-5)
    as_dict = score.as_dict()
    assert set(as_dict["categories"]) == set(PAIR_CATEGORIES) and as_dict["n"] == 6


def test_equal_pairs_cuts_both_sets_to_the_smaller_distinct_and_seeded():
    od = [{"id": f"od{i}", "prompt": "p", "chosen": f"c{i}", "rejected": "r"} for i in range(10)]
    score = [{"id": f"s{i}", "prompt": "p", "chosen": f"s{i}", "rejected": "r"} for i in range(4)]
    od_cut, score_cut = equal_pairs(od, score)
    assert len(od_cut) == len(score_cut) == 4
    assert score_cut == score  # the smaller set is kept whole, in order
    ids = [r["id"] for r in od_cut]
    assert len(set(ids)) == 4 and set(ids) <= {r["id"] for r in od}  # distinct rows, nothing cycled
    assert ids == sorted(ids, key=lambda i: int(i[2:]))  # the file order is kept
    assert equal_pairs(od, score) == (od_cut, score_cut)  # seeded
    assert any(equal_pairs(od, score, seed=s)[0] != od_cut for s in (1, 2, 3))  # the seed picks the rows
    # either side may be the larger one
    big, small = equal_pairs(score, od)
    assert big == score and len(small) == 4 and len({r["id"] for r in small}) == 4
    assert equal_pairs([], score) == ([], [])
    # a repeated (prompt, chosen, rejected) triple counts once: 4 distinct OD rows against 4
    repeated = [dict(od[i % 4], id=f"od{i}") for i in range(10)]
    od_cut, score_cut = equal_pairs(repeated, score)
    assert [r["id"] for r in od_cut] == ["od0", "od1", "od2", "od3"] and score_cut == score
