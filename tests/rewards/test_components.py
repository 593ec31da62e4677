"""The reward formulas and GRPO group statistics (pure functions)."""

from __future__ import annotations

import pytest

from pgrpo.rewards.batch import (
    REWARD_MODES,
    compose,
    get_mode,
)


def test_modes_registered():
    assert sorted(REWARD_MODES) == ["additive", "outcome", "posterior"]
    with pytest.raises(KeyError, match="known: additive, outcome, posterior"):
        get_mode("gated")


@pytest.mark.parametrize("r_f,r_o,r_t,expected", [
    (1.0, 1.0, 0.7, 2.7), (1.0, 0.0, 0.99, 1.0), (0.0, 0.0, 1.0, 0.0), (0.0, 1.0, 0.25, 1.25),
])
def test_posterior_formula(r_f, r_o, r_t, expected):
    assert compose(r_f, r_o, r_t, "posterior") == pytest.approx(expected)


def test_failed_completion_never_gets_thinking_reward_in_posterior():
    for r_t in (0.0, 0.5, 1.0):
        assert compose(1.0, 0.0, r_t, "posterior") == 1.0
        assert get_mode("posterior").needs_thinking(0.0) is False
    assert compose(1.0, 0.0, 1.0, "additive") == 2.0  # the ablation pays for reasoning alone
    assert get_mode("additive").needs_thinking(0.0) is True


def test_outcome_mode_ignores_thinking_and_weight_scales():
    assert compose(1.0, 1.0, 0.9, "outcome") == 2.0
    assert get_mode("outcome").needs_thinking(1.0) is False
    assert compose(1.0, 1.0, 0.5, "posterior", weight=2.0) == pytest.approx(3.0)
    assert compose(0.0, 0.0, 0.5, "additive", weight=0.5) == pytest.approx(0.25)


def test_keyed_groups_skip_partial_runs():
    from pgrpo.rewards.batch import keyed_groups

    keys = ["a", "a", "b", "b", "b", "b", "c"]
    assert keyed_groups(keys, 2) == [[0, 1], [2, 3], [4, 5]]  # "c" is a partial group
    assert keyed_groups(["a", "a", "a"], 2) == []
