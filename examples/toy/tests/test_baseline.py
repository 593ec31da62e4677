"""Score-based baseline pairs: outcome labels only, in the layout the RM trainer reads."""

from __future__ import annotations

import json
import random

from pgrpo.rm.data import load_pairs
from pgrpo.rm.manifest import training_include_code
from pgrpo.rm.od import side_text
from pgrpo.verify import Verdict
from pgrpo_toy.baseline import DIMENSION, outcome_pairs, score_based_pairs
from pgrpo_toy.world import generate_problems


def test_outcome_pairs_by_hand():
    problem = generate_problems(1, seed=3)[0]
    sides = [("good a", True), ("bad a", False), ("bad b", False), ("good a", True), ("  ", True)]
    rows = outcome_pairs(problem, sides, random.Random(0))
    # distinct non-empty passing sides: 1 ("good a"); failing: 2 -> one pair, each side used once
    assert len(rows) == 1
    assert rows[0]["chosen"] == "good a" and rows[0]["rejected"] in {"bad a", "bad b"}
    assert rows[0]["prompt"] == problem.statement and rows[0]["dimension"] == DIMENSION
    assert outcome_pairs(problem, [("x", True), ("y", True)], random.Random(0)) == []  # no failing sample
    assert outcome_pairs(problem, [("same  text", True), ("same text", False)], random.Random(0)) == []


def test_score_based_pairs_load_through_the_rm_reader(tmp_path, tiny_policy_path):
    problems = generate_problems(3, seed=8)
    seen = []

    def verify(items):  # every other sample "passes": labels come from this verdict only
        seen.extend(items)
        return [Verdict(i % 2 == 0, "passed" if i % 2 == 0 else "failed", float(i % 2 == 0), True, text, "", "")
                for i, (_, text) in enumerate(items)]

    out = tmp_path / "baseline" / "pairs.jsonl"
    result = score_based_pairs(tiny_policy_path, problems, 4, out, verify=verify, seed=1, max_new_tokens=16)
    assert len(seen) == result.samples == 12 and result.passed == 6 and result.problems == 3
    loaded = load_pairs(out)  # the reader `pgrpo rm train` uses: every row valid
    assert len(loaded) == result.count >= 1 and result.problems_used >= 1
    passing = {side_text(t) for i, (_, t) in enumerate(seen) if i % 2 == 0}
    failing = {side_text(t) for i, (_, t) in enumerate(seen) if i % 2 == 1}
    for pair in loaded.pairs:
        assert pair.dimension == DIMENSION and pair.pair_type is None
        assert pair.chosen in passing and pair.rejected in failing
        assert pair.prompt in {p.statement for p in problems}
    assert training_include_code(str(out)) == (False, str(out.parent / "pgrpo_pairs.json"))
    again = score_based_pairs(tiny_policy_path, problems, 4, tmp_path / "again.jsonl", verify=verify, seed=1,
                              max_new_tokens=16)
    assert again.count == result.count  # seeded: the same pairs again
    assert [json.loads(x) for x in (tmp_path / "again.jsonl").read_text().splitlines()] == \
        [json.loads(x) for x in out.read_text().splitlines()]
