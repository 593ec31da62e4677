"""The task x seed statistics against exact enumeration, hand computations and simulation."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest

from pgrpo.errors import PgrpoError
from pgrpo_toy.crossed import crossed_bootstrap, crossed_variance, task_grid

# K = 3 seeds x T = 4 tasks, irregular values so the resampled means take many distinct values
GRID = [[0.10, -0.30, 0.25, 0.05],
        [0.40, 0.00, -0.15, 0.20],
        [-0.05, 0.35, 0.10, -0.20]]


def _exact_bootstrap(grid: list[list[float]]) -> list[float]:
    """Every equally likely resample: K^K row tuples x T^T column tuples, the grand mean of each."""
    k, t = len(grid), len(grid[0])
    cols = list(itertools.product(range(t), repeat=t))
    return [sum(grid[r][c] for r in rows for c in cs) / (k * t)
            for rows in itertools.product(range(k), repeat=k) for cs in cols]


def test_bootstrap_matches_the_exact_enumeration():
    exact = sorted(_exact_bootstrap(GRID))  # 27 x 256 = 6912 resamples
    n = len(exact)
    ci = crossed_bootstrap(GRID, n_boot=20000, seed=3)
    assert (ci.k, ci.t, ci.n_boot, ci.level) == (3, 4, 20000, 0.95)
    # each end is the 2.5% / 97.5% quantile of the exact distribution: P(X < q) <= p <= P(X <= q),
    # up to Monte Carlo error (sd of an estimated 2.5% tail with 20000 draws: 0.0011) and rounding
    for q, p in ((ci.low, 0.025), (ci.high, 0.975)):
        below = sum(x < q - 1e-6 for x in exact) / n
        at_or_below = sum(x <= q + 1e-6 for x in exact) / n
        assert below - 0.005 <= p <= at_or_below + 0.005
    assert ci.se == pytest.approx(statistics.pstdev(exact), rel=0.03)
    # the median of a narrower 50% interval's ends likewise
    half = crossed_bootstrap(GRID, n_boot=20000, seed=4, level=0.5)
    assert sum(x < half.low - 1e-6 for x in exact) / n - 0.01 <= 0.25 <= sum(x <= half.low + 1e-6 for x in exact) / n + 0.01


def test_bootstrap_variance_closed_form():
    # the docstring's exact variance of the resampled mean, against the enumeration
    k, t = len(GRID), len(GRID[0])
    m = sum(map(sum, GRID)) / (k * t)
    rows = [sum(r) / t for r in GRID]
    cols = [sum(GRID[s][j] for s in range(k)) / k for j in range(t)]
    resid = sum((GRID[s][j] - rows[s] - cols[j] + m) ** 2 for s in range(k) for j in range(t))
    closed = (sum((x - m) ** 2 for x in rows) / k ** 2 + sum((x - m) ** 2 for x in cols) / t ** 2
              + resid / (k * t) ** 2)
    assert statistics.pvariance(_exact_bootstrap(GRID)) == pytest.approx(closed, rel=1e-9)


def test_point_estimate_and_determinism():
    # grand mean by hand: row sums 0.10, 0.45, 0.20 -> 0.75 / 12 = 0.0625
    ci = crossed_bootstrap(GRID)
    assert ci.estimate == pytest.approx(0.0625)
    assert ci.low < ci.estimate < ci.high
    assert crossed_bootstrap(GRID, seed=0) == ci
    other = crossed_bootstrap(GRID, seed=1)
    assert other.estimate == ci.estimate and (other.low, other.high) != (ci.low, ci.high)
    assert ci.as_dict()["interval"] == [ci.low, ci.high]


def test_interval_widens_with_seed_noise():
    rng = np.random.default_rng(7)
    base = (0.05 + 0.1 * rng.standard_normal((8, 40))).tolist()
    noisy = [[x + shift for x in row] for row, shift in zip(base, (0.3, -0.25, 0.4, -0.35, 0.2, -0.3, 0.1, -0.1))]
    quiet, loud = crossed_bootstrap(base), crossed_bootstrap(noisy)
    assert loud.high - loud.low > 2 * (quiet.high - quiet.low)
    assert loud.estimate == pytest.approx(quiet.estimate, abs=1e-6)  # the shifts sum to 0
    # a constant grid has nothing to resample
    flat = crossed_bootstrap([[0.2] * 5] * 4)
    assert (flat.low, flat.high, flat.se) == pytest.approx((0.2, 0.2, 0.0)) and flat.excludes_zero


def test_bootstrap_rejects_bad_grids():
    with pytest.raises(PgrpoError, match="row 1 has 2 tasks, row 0 has 3"):
        crossed_bootstrap([[0.1, 0.2, 0.3], [0.1, 0.2]])
    with pytest.raises(PgrpoError, match=r"diffs\[1\]\[0\] is nan"):
        crossed_bootstrap([[0.1, 0.2], [math.nan, 0.2]])
    with pytest.raises(PgrpoError, match="at least 1 seeds"):
        crossed_bootstrap([])
    with pytest.raises(PgrpoError, match="n_boot"):
        crossed_bootstrap(GRID, n_boot=10)
    with pytest.raises(PgrpoError, match="level"):
        crossed_bootstrap(GRID, level=1.0)


def test_variance_components_seed_only_task_only_additive():
    a = (0.1, 0.3, 0.2)  # sample variance ((-0.1)^2 + 0.1^2 + 0) / 2 = 0.01
    b = (0.0, 0.4, -0.2, 0.2)  # mean 0.1; deviations -.1 .3 -.3 .1: squares .2, / 3 = 0.0666667
    seed_only = crossed_variance([[x] * 4 for x in a])
    assert (seed_only.seed_var, seed_only.task_var, seed_only.residual_var) == pytest.approx((0.01, 0.0, 0.0))
    assert seed_only.seed_term == pytest.approx(0.01 / 3) and seed_only.share("seed") == pytest.approx(1.0)
    assert seed_only.clipped == ()  # zero up to float rounding is not a clipped estimate
    task_only = crossed_variance([list(b) for _ in a])
    assert (task_only.seed_var, task_only.task_var, task_only.residual_var) == pytest.approx((0.0, 0.2 / 3, 0.0))
    assert task_only.task_term == pytest.approx(0.2 / 3 / 4) and task_only.share("task") == pytest.approx(1.0)
    both = crossed_variance([[x + y for y in b] for x in a])
    assert (both.seed_var, both.task_var, both.residual_var) == pytest.approx((0.01, 0.2 / 3, 0.0))
    assert both.total == pytest.approx(0.01 / 3 + 0.2 / 3 / 4)
    assert both.se == pytest.approx(math.sqrt(both.total))


def test_variance_components_interaction_only_clips_the_main_effects():
    # [[1, -1], [-1, 1]]: row and column means all 0, residuals +-1: MS_res = 4 / 1 = 4,
    # MS_seed = MS_task = 0, so both main-effect estimates are (0 - 4) / 2 = -2 -> clipped at 0
    vc = crossed_variance([[1.0, -1.0], [-1.0, 1.0]])
    assert (vc.seed_var, vc.task_var, vc.residual_var) == (0.0, 0.0, pytest.approx(4.0))
    assert vc.clipped == ("seed", "task")
    assert vc.residual_term == pytest.approx(1.0) and vc.total == pytest.approx(1.0)
    assert vc.as_dict()["clipped"] == ["seed", "task"]
    with pytest.raises(PgrpoError, match="unknown term"):
        vc.share("tasks")
    with pytest.raises(PgrpoError, match="at least 2 tasks"):
        crossed_variance([[0.1], [0.2]])


def test_variance_components_are_unbiased_under_the_model():
    # simulate diffs = a_s + b_t + e_st with sigma_a = 1, sigma_b = 0.5, sigma_e = 0.8 (K = 6, T = 10);
    # the moment estimates average to the true components (clipping is rare at these sizes)
    rng = np.random.default_rng(11)
    k, t, reps = 6, 10, 3000
    est = np.array([[vc.seed_var, vc.task_var, vc.residual_var] for vc in (
        crossed_variance(rng.normal(0, 1.0, (k, 1)) + rng.normal(0, 0.5, (1, t))  # type: ignore[arg-type]
                         + rng.normal(0, 0.8, (k, t)))  # an ndarray of rows
        for _ in range(reps))])
    mean = est.mean(axis=0)
    assert mean[0] == pytest.approx(1.0, abs=0.05)  # sd of one estimate ~0.65: Monte Carlo se ~0.012
    assert mean[1] == pytest.approx(0.25, abs=0.02)  # sd ~0.15: se ~0.003
    assert mean[2] == pytest.approx(0.64, abs=0.01)  # sd ~0.14: se ~0.003


def test_task_grid_differences_and_order():
    a = [{"t2": 0.5, "t1": 0.25}, {"t1": 1.0, "t2": 0.0}]
    b = [{"t1": 0.0, "t2": 0.5}, {"t2": 0.25, "t1": 0.5}]
    assert task_grid(a, b) == [[0.25, 0.0], [0.5, -0.25]]  # tasks in sorted order t1, t2


def test_task_grid_names_the_first_missing_task_and_seed():
    a = [{"t1": 0.1, "t2": 0.2, "t3": 0.3}, {"t1": 0.1, "t2": 0.2, "t3": 0.3}]
    b = [{"t1": 0.1, "t2": 0.2, "t3": 0.3}, {"t1": 0.1}]
    with pytest.raises(PgrpoError, match=r"task 't2' is missing from seed 1 of arm B \(2 missing"):
        task_grid(a, b)
    with pytest.raises(PgrpoError, match="task 't2' is missing from seed 7 of arm B"):
        task_grid(a, b, seeds=[4, 7])
    extra = [{"t1": 0.1, "t2": 0.2, "t3": 0.3}, {"t1": 0.1, "t2": 0.2, "t3": 0.3, "t9": 0.0}]
    with pytest.raises(PgrpoError, match="task 't9' in seed 1 of arm A is not in seed 0 of arm A"):
        task_grid(extra, a)
    with pytest.raises(PgrpoError, match="one run of each per seed"):
        task_grid(a, b[:1])
    with pytest.raises(PgrpoError, match="no runs"):
        task_grid([], [])
