"""Pairwise preference accuracy (ties counted half unless told otherwise), percentile bootstrap CI
(fixed seed), per-group breakdown; for benchmarks that credit a prompt in [0, 1] (RM-Bench,
RewardBench 2), `credit_accuracy` and `macro_accuracy` (unweighted mean over groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Accuracy:
    """Share of pairs with score(chosen) > score(rejected); a tie counts 1/2.

    `ci_low`/`ci_high` are the 95% percentile-bootstrap bounds (equal to `accuracy` when
    bootstrapping is disabled or there is a single pair).
    """

    accuracy: float
    n: int
    wins: int
    ties: int
    ci_low: float
    ci_high: float


def pair_outcomes(chosen: Sequence[float], rejected: Sequence[float], tie_tol: float = 0.0) -> np.ndarray:
    """Per pair 1.0 (chosen higher), 0.5 (|diff| <= tie_tol) or 0.0; shapes (n,), (n,) -> (n,)."""
    c = np.asarray(chosen, dtype=np.float64)
    r = np.asarray(rejected, dtype=np.float64)
    if c.shape != r.shape or c.ndim != 1:
        raise ValueError(f"chosen and rejected must be equal-length 1-D, got {c.shape} and {r.shape}")
    diff = c - r
    return np.where(np.abs(diff) <= tie_tol, 0.5, np.where(diff > 0, 1.0, 0.0))


def accuracy(chosen: Sequence[float], rejected: Sequence[float], *, tie_tol: float = 0.0,
             tie_credit: float = 0.5, n_boot: int = 1000, seed: int = 0) -> Accuracy:
    """Accuracy, a tie earning `tie_credit`, with a bootstrap 95% CI (NaN accuracy for zero pairs)."""
    outcomes = pair_outcomes(chosen, rejected, tie_tol)
    tied = outcomes == 0.5
    credits = np.where(tied, tie_credit, outcomes)
    return credit_accuracy(credits, ties=int(tied.sum()), n_boot=n_boot, seed=seed)


def credit_accuracy(credits: Sequence[float] | np.ndarray, *, ties: int = 0, n_boot: int = 1000, seed: int = 0) -> Accuracy:
    """Mean of per-unit credits in [0, 1] with its bootstrap CI; `wins` counts units with full
    credit, `ties` is the caller's tie count (what a tie is depends on the benchmark)."""
    return macro_accuracy([credits], ties=ties, n_boot=n_boot, seed=seed)


def macro_accuracy(groups: Sequence[Sequence[float] | np.ndarray], *, ties: int = 0, n_boot: int = 1000,
                   seed: int = 0, level: float = 0.95) -> Accuracy:
    """Unweighted mean of the non-empty groups' mean credits; the CI resamples each group on its
    own (stratified percentile bootstrap, fixed seed). NaN for no non-empty group."""
    arrays = [np.asarray(g, dtype=np.float64) for g in groups if len(g)]
    if not arrays:
        nan = float("nan")
        return Accuracy(nan, 0, 0, ties, nan, nan)
    mean = float(np.mean([a.mean() for a in arrays]))
    n = sum(len(a) for a in arrays)
    wins = int(sum((a == 1.0).sum() for a in arrays))
    if n_boot <= 0 or all(len(a) == 1 for a in arrays):
        return Accuracy(mean, n, wins, ties, mean, mean)
    rng = np.random.default_rng(seed)
    means = np.zeros(n_boot)
    for a in arrays:
        means += a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(axis=1)
    means /= len(arrays)
    alpha = (1.0 - level) / 2.0
    return Accuracy(mean, n, wins, ties, float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha)))


def grouped_accuracy(groups: Sequence[str | None], chosen: Sequence[float], rejected: Sequence[float], *,
                     tie_tol: float = 0.0, tie_credit: float = 0.5, n_boot: int = 1000,
                     seed: int = 0) -> dict[str, Accuracy]:
    """Accuracy per group label (pairs whose label is None are left out), keys sorted."""
    out: dict[str, Accuracy] = {}
    labels = sorted({g for g in groups if g is not None})
    for label in labels:
        idx = [i for i, g in enumerate(groups) if g == label]
        out[label] = accuracy([chosen[i] for i in idx], [rejected[i] for i in idx],
                              tie_tol=tie_tol, tie_credit=tie_credit, n_boot=n_boot, seed=seed)
    return out
