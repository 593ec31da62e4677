"""pass@k against brute force over all k-subsets, plus aggregation and argument checks."""

from __future__ import annotations

import itertools
import math

import pytest

from pgrpo.evaluation.passk import mean_pass_at_k, pass_at_k, pass_at_k_report


def brute_force(n: int, c: int, k: int) -> float:
    """Share of k-subsets of n samples (the first c passing) that contain a pass."""
    flags = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(flags[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_matches_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_known_values():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 1, 2) == pytest.approx(1 - math.comb(4, 2) / math.comb(5, 2))
    # fewer failures than k: every subset holds a pass
    assert pass_at_k(10, 8, 3) == 1.0


def test_stable_for_large_n():
    value = pass_at_k(2000, 7, 100)
    exact = 1 - math.comb(1993, 100) / math.comb(2000, 100)
    assert value == pytest.approx(exact, rel=1e-9)
    assert 0.0 <= pass_at_k(5000, 1, 1) <= 1.0


@pytest.mark.parametrize(
    "args, exc",
    [((0, 0, 1), ValueError), ((5, 6, 1), ValueError), ((5, -1, 1), ValueError),
     ((5, 2, 0), ValueError), ((5, 2, 6), ValueError), ((5.0, 2, 1), TypeError), ((5, True, 1), TypeError)],
)
def test_invalid_args(args, exc):
    with pytest.raises(exc):
        pass_at_k(*args)


def test_mean_pass_at_k():
    counts = [(4, 0), (4, 4), (4, 1)]
    expected = (0.0 + 1.0 + brute_force(4, 1, 2)) / 3
    assert mean_pass_at_k(counts, 2) == pytest.approx(expected)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)


def test_table_skips_k_above_min_n():
    results = {"a": [True, False, False, False, False], "b": [False, False, True]}
    report = pass_at_k_report(results, [1, 3, 5, 10])
    assert set(report.scores) == {1, 3}
    assert report.skipped == (5, 10)
    assert report.num_tasks == 2
    assert report.scores[1] == pytest.approx((1 / 5 + 1 / 3) / 2)
    assert report.scores[3] == pytest.approx((brute_force(5, 1, 3) + 1.0) / 2)


def test_table_errors():
    with pytest.raises(ValueError):
        pass_at_k_report({}, [1])
    with pytest.raises(ValueError, match="'t'"):
        pass_at_k_report({"t": []}, [1])
    with pytest.raises(ValueError):
        pass_at_k_report({"t": [True]}, [0])
