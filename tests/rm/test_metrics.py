"""Accuracy with ties counted half, bootstrap CI, per-group breakdown."""

from __future__ import annotations

import math

import numpy as np

from pgrpo.rm.metrics import accuracy, credit_accuracy, grouped_accuracy, pair_outcomes


def test_ties_count_half():
    acc = accuracy([3, 1, 2, 5], [1, 2, 2, 4], n_boot=0)
    assert acc.accuracy == (1 + 0 + 0.5 + 1) / 4
    assert (acc.n, acc.wins, acc.ties) == (4, 2, 1)
    assert acc.ci_low == acc.ci_high == acc.accuracy


def test_tie_tolerance():
    assert list(pair_outcomes([1.0, 1.0], [1.0 - 1e-9, 0.0], tie_tol=1e-6)) == [0.5, 1.0]


def test_bootstrap_is_deterministic_and_brackets_the_mean():
    outcomes = np.array([1.0] * 70 + [0.0] * 30)
    acc = credit_accuracy(outcomes, n_boot=2000, seed=3)
    low, high = acc.ci_low, acc.ci_high
    assert (low, high) == (credit_accuracy(outcomes, n_boot=2000, seed=3).ci_low,
                           credit_accuracy(outcomes, n_boot=2000, seed=3).ci_high)
    assert low < 0.7 < high
    assert 0.55 < low and high < 0.85  # ~ +-1.96 * sqrt(.21/100) = +-0.09


def test_grouped_and_empty():
    groups = ["a", "b", None, "a"]
    out = grouped_accuracy(groups, [1, 0, 1, 0], [0, 1, 0, 1], n_boot=0)
    assert list(out) == ["a", "b"]
    assert out["a"].accuracy == 0.5 and out["a"].n == 2 and out["b"].accuracy == 0.0
    assert math.isnan(accuracy([], []).accuracy)
