"""The blind-spot probe: pairs built by hand-checkable rules, accuracy as the scores say."""

from __future__ import annotations

import math

import pytest

from pgrpo_toy.probe import ProbePair, probe_pairs, score_probe
from pgrpo_toy.world import Step, ToyTask, canonical_reasoning, statement

TRAP = ToyTask("trap", (Step("neg"), Step("mod", 3), Step("abs")))  # skip neg: invalid; skip abs: valid
SAFE = ToyTask("safe", (Step("neg"), Step("square")))
PLAIN = ToyTask("plain", (Step("add", 1), Step("mul", 2)))


class KeywordScorer:
    """Scores a reasoning by whether it holds a shortcut line (the RM's blind spot, exaggerated)."""

    def __init__(self, skip_score: float, other: float) -> None:
        self.skip_score, self.other = skip_score, other

    def score(self, items):
        return [self.skip_score if "skip" in item.reasoning else self.other for item in items]


def test_probe_pairs_by_hand():
    pairs = probe_pairs([TRAP, SAFE, PLAIN])
    assert [(p.task.task_id, p.index, p.kind) for p in pairs] == [("trap", 0, "invalid"), ("trap", 2, "valid"),
                                                                   ("safe", 0, "valid")]
    assert all(p.chosen == canonical_reasoning(p.task) for p in pairs)
    assert pairs[0].rejected.splitlines()[0] == "Step 1: skip negate x, the sign does not matter."
    assert pairs[1].rejected.splitlines()[2] == "Step 3: skip take the absolute value of x, the sign does not matter."


def test_score_probe_counts_the_blind_spot():
    pairs = probe_pairs([TRAP, SAFE, PLAIN])
    blind = score_probe(None, pairs, scorer=KeywordScorer(0.9, 0.1), n_boot=0)
    assert blind.invalid_accuracy == 0.0 and blind.invalid_n == 1
    assert blind.valid_shortcut_preference == 1.0 and blind.valid_n == 2
    sharp = score_probe(None, pairs, scorer=KeywordScorer(0.1, 0.9), n_boot=0)
    assert sharp.invalid_accuracy == 1.0 and sharp.valid_shortcut_preference == 0.0
    tie = score_probe(None, pairs, scorer=KeywordScorer(0.5, 0.5), n_boot=0)
    assert tie.invalid_accuracy == 0.5 and tie.valid_shortcut_preference == 0.5
    none = score_probe(None, [p for p in pairs if p.kind == "valid"], scorer=KeywordScorer(0.9, 0.1))
    assert math.isnan(none.invalid_accuracy) and none.invalid_n == 0


def test_score_probe_with_a_tiny_rm_matches_direct_scoring(tiny_rm_path):
    from pgrpo.rm.scoring import RewardScorer, RMItem

    pairs = probe_pairs([TRAP, SAFE, ToyTask("t2", (Step("add", 2), Step("neg"), Step("mod", 5)))])
    result = score_probe(tiny_rm_path, pairs, max_length=128, n_boot=200)
    scorer = RewardScorer(tiny_rm_path, max_length=128)

    def wins(kind: str, first: str) -> float:
        chosen = [p for p in pairs if p.kind == kind]
        out = []
        for p in chosen:
            c, r = scorer.score([RMItem(statement(p.task), p.chosen), RMItem(statement(p.task), p.rejected)])
            a, b = (c, r) if first == "chosen" else (r, c)
            out.append(1.0 if a > b else 0.5 if a == b else 0.0)
        return sum(out) / len(out)

    assert result.invalid_n == sum(p.kind == "invalid" for p in pairs) == 2
    assert result.invalid_accuracy == pytest.approx(wins("invalid", "chosen"))
    assert result.valid_shortcut_preference == pytest.approx(wins("valid", "rejected"))
    low, high = result.invalid_ci95
    assert low <= result.invalid_accuracy <= high
    assert isinstance(pairs[0], ProbePair)
