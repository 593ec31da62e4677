"""Task x seed statistics of the demo study: the paired differences laid out as a seed-by-task grid.

Owns `task_grid` (per-run, per-task values of two arms -> the grid of differences A - B),
`crossed_bootstrap` (the pigeonhole bootstrap: seeds and tasks resampled independently, a
percentile interval for the grand mean) and `crossed_variance` (the method-of-moments variance
components of that grand mean for a two-way crossed random-effects layout without replication).
The Student t interval over seeds (pgrpo_toy.stats) holds the test tasks fixed; these two say how
much the choice of tasks adds. Pure functions, no I/O.

Model: diffs[s][t] = mu + a_s + b_t + e_st with independent seed effects a (variance sigma_a^2),
task effects b (sigma_b^2) and residuals e (sigma_e^2; this includes the sampling noise of a
task's per-seed value). The grand mean of a K x T grid has variance
sigma_a^2 / K + sigma_b^2 / T + sigma_e^2 / (K T): the seed, task and residual terms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgrpo.errors import PgrpoError


def _as_grid(diffs: Sequence[Sequence[float]], what: str, min_k: int, min_t: int) -> np.ndarray:
    """`diffs` as a K x T float array: rectangular, finite, at least `min_k` seeds and `min_t` tasks."""
    if len(diffs) < min_k:
        raise PgrpoError(f"{what}: needs at least {min_k} seeds (rows), got {len(diffs)}")
    width = len(diffs[0])
    for s, row in enumerate(diffs):
        if len(row) != width:
            raise PgrpoError(f"{what}: seed row {s} has {len(row)} tasks, row 0 has {width}; the grid must be rectangular")
    if width < min_t:
        raise PgrpoError(f"{what}: needs at least {min_t} tasks (columns), got {width}")
    grid = np.asarray(diffs, dtype=float)
    bad = np.argwhere(~np.isfinite(grid))
    if bad.size:
        s, t = (int(i) for i in bad[0])
        raise PgrpoError(f"{what}: diffs[{s}][{t}] is {grid[s, t]}, not a finite number")
    return grid


def task_grid(per_seed_a: Sequence[Mapping[str, float]], per_seed_b: Sequence[Mapping[str, float]],
              seeds: Sequence[int] | None = None) -> list[list[float]]:
    """The grid diffs[s][t] = per_seed_a[s][task] - per_seed_b[s][task], tasks in sorted id order.
    Every run of both arms must hold the same task ids (those of arm A's first run); otherwise a
    PgrpoError names the first missing (or extra) task and its seed (`seeds[s]`, default the index s)."""
    if len(per_seed_a) != len(per_seed_b):
        raise PgrpoError(f"task_grid: {len(per_seed_a)} runs of arm A against {len(per_seed_b)} of arm B; "
                         f"pairs need one run of each per seed")
    if not per_seed_a:
        raise PgrpoError("task_grid: no runs")
    labels = list(seeds) if seeds is not None else list(range(len(per_seed_a)))
    if len(labels) != len(per_seed_a):
        raise PgrpoError(f"task_grid: {len(labels)} seed labels for {len(per_seed_a)} runs")
    tasks = sorted(per_seed_a[0])
    if not tasks:
        raise PgrpoError(f"task_grid: seed {labels[0]} of arm A has no tasks")
    reference = set(tasks)
    for s, label in enumerate(labels):
        for arm, runs in (("A", per_seed_a), ("B", per_seed_b)):
            missing = sorted(reference.difference(runs[s]))
            if missing:
                raise PgrpoError(f"task_grid: task {missing[0]!r} is missing from seed {label} of arm {arm} "
                                 f"({len(missing)} missing; every run must hold the same tasks)")
            extra = sorted(set(runs[s]).difference(reference))
            if extra:
                raise PgrpoError(f"task_grid: task {extra[0]!r} in seed {label} of arm {arm} is not in seed "
                                 f"{labels[0]} of arm A (every run must hold the same tasks)")
    return [[float(per_seed_a[s][t]) - float(per_seed_b[s][t]) for t in tasks] for s in range(len(labels))]


@dataclass(frozen=True)
class CrossedInterval:
    """The crossed (task x seed) bootstrap of the grand mean of a K x T grid of paired differences.
    `se` is the standard deviation of the bootstrap replicates."""

    estimate: float
    low: float
    high: float
    level: float
    se: float
    k: int
    t: int
    n_boot: int
    seed: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "interval": [self.low, self.high], "level": self.level, "se": self.se,
                "k": self.k, "t": self.t, "n_boot": self.n_boot, "seed": self.seed}


def bootstrap_replicates(grid: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """`n_boot` grand means of the grid with its rows (seeds) and its columns (tasks) each resampled
    with replacement, independently (numpy's PCG64 Generator seeded with `seed`). A replicate is
    computed from the resampling counts: mean = sum_s sum_t w_s v_t x_st / (K T)."""
    k, t = grid.shape
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = rng.integers(0, k, size=(n_boot, k))
    cols = rng.integers(0, t, size=(n_boot, t))
    w = np.zeros((n_boot, k))
    v = np.zeros((n_boot, t))
    replicate = np.arange(n_boot)[:, None]
    np.add.at(w, (replicate, rows), 1.0)
    np.add.at(v, (replicate, cols), 1.0)
    means: np.ndarray = np.einsum("bk,kt,bt->b", w, grid, v) / (k * t)
    return means


def crossed_bootstrap(diffs: Sequence[Sequence[float]], n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95, digits: int = 6) -> CrossedInterval:
    """Percentile interval at `level` for the grand mean of `diffs[s][t]` (seed s, test task t),
    from `n_boot` replicates that resample seeds and tasks independently (Owen's pigeonhole
    bootstrap); deterministic in `seed`. Its variance is, exactly,
    sum_s (m_s - m)^2 / K^2 + sum_t (c_t - m)^2 / T^2 + sum_st r_st^2 / (K T)^2 (row means m_s,
    column means c_t, double-centred residuals r), in expectation
    (K-1)/K sigma_a^2 / K + (T-1)/T sigma_b^2 / T + about 3 sigma_e^2 / (K T): the seed term shrunk
    by (K-1)/K as in any plain bootstrap of K values, the residual counted about three times.
    With few seeds the percentile interval is therefore narrower than a t-interval on the seed
    term alone; read it next to the t-interval, not instead of it."""
    if n_boot < 100:
        raise PgrpoError(f"crossed_bootstrap: n_boot must be at least 100, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise PgrpoError(f"crossed_bootstrap: level must lie in (0, 1), got {level}")
    grid = _as_grid(diffs, "crossed_bootstrap", 1, 1)
    means = bootstrap_replicates(grid, n_boot, seed)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    k, t = grid.shape
    return CrossedInterval(round(float(grid.mean()), digits), round(float(low), digits), round(float(high), digits),
                           level, round(float(means.std(ddof=1)), digits), k, t, n_boot, seed)


@dataclass(frozen=True)
class VarianceComponents:
    """Method-of-moments variance components of a K x T grid's grand mean. `seed_var`, `task_var` and
    `residual_var` are sigma_a^2, sigma_b^2 and sigma_e^2 (each clipped at 0; `clipped` names those
    whose moment estimate was negative beyond float rounding); the `*_term` properties are their contributions to the
    variance of the grand mean."""

    seed_var: float
    task_var: float
    residual_var: float
    k: int
    t: int
    clipped: tuple[str, ...]

    @property
    def seed_term(self) -> float:
        return self.seed_var / self.k

    @property
    def task_term(self) -> float:
        return self.task_var / self.t

    @property
    def residual_term(self) -> float:
        return self.residual_var / (self.k * self.t)

    @property
    def total(self) -> float:
        """The variance of the grand mean over seeds and tasks (the sum of the three terms)."""
        return self.seed_term + self.task_term + self.residual_term

    @property
    def se(self) -> float:
        return math.sqrt(self.total)

    def share(self, term: str) -> float:
        """The share of `term` ("seed", "task" or "residual") in `total` (0 when the total is 0)."""
        terms = {"seed": self.seed_term, "task": self.task_term, "residual": self.residual_term}
        if term not in terms:
            raise PgrpoError(f"VarianceComponents.share: unknown term {term!r}; expected one of {sorted(terms)}")
        return terms[term] / self.total if self.total > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "t": self.t, "seed_var": self.seed_var, "task_var": self.task_var,
                "residual_var": self.residual_var, "seed_term": self.seed_term, "task_term": self.task_term,
                "residual_term": self.residual_term, "total": self.total, "se": self.se,
                "clipped": list(self.clipped)}


def crossed_variance(diffs: Sequence[Sequence[float]]) -> VarianceComponents:
    """Variance components of the grand mean of `diffs[s][t]` (two-way crossed random effects, one
    value per cell) from the ANOVA mean squares: MS_seed = T sum_s (m_s - m)^2 / (K-1),
    MS_task = K sum_t (c_t - m)^2 / (T-1), MS_res = sum_st r_st^2 / ((K-1)(T-1)), with expectations
    sigma_e^2 + T sigma_a^2, sigma_e^2 + K sigma_b^2 and sigma_e^2. So sigma_a^2 = (MS_seed - MS_res) / T,
    sigma_b^2 = (MS_task - MS_res) / K, sigma_e^2 = MS_res; a negative estimate (the effect is
    smaller than the noise can resolve) is clipped at 0 and named in `clipped`. Needs K, T >= 2."""
    grid = _as_grid(diffs, "crossed_variance", 2, 2)
    k, t = grid.shape
    mean = grid.mean()
    row = grid.mean(axis=1)
    col = grid.mean(axis=0)
    resid = grid - row[:, None] - col[None, :] + mean
    ms_seed = t * float(((row - mean) ** 2).sum()) / (k - 1)
    ms_task = k * float(((col - mean) ** 2).sum()) / (t - 1)
    ms_res = float((resid ** 2).sum()) / ((k - 1) * (t - 1))
    raw = {"seed": (ms_seed - ms_res) / t, "task": (ms_task - ms_res) / k}
    rounding = 1e-12 * (ms_seed + ms_task + ms_res)  # a difference of equal mean squares, up to float error
    clipped = tuple(name for name, value in raw.items() if value < -rounding)
    return VarianceComponents(max(raw["seed"], 0.0), max(raw["task"], 0.0), ms_res, k, t, clipped)
