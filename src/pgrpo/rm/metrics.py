"""Pairwise preference accuracy: ties counted half, percentile bootstrap CI, per-group breakdown.

Pure functions over paired scores (no model): used by `pgrpo rm train` (held-out accuracy per
pair_type / dimension) and `pgrpo rm eval` (per benchmark subset).
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


def bootstrap_ci(outcomes: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `outcomes` (n,), fixed seed -> deterministic."""
    n = len(outcomes)
    if n == 0:
        return float("nan"), float("nan")
    mean = float(outcomes.mean())
    if n_boot <= 0 or n == 1:
        return mean, mean
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = outcomes[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def accuracy(chosen: Sequence[float], rejected: Sequence[float], *, tie_tol: float = 0.0,
             n_boot: int = 1000, seed: int = 0) -> Accuracy:
    """Accuracy with ties counted half and a bootstrap 95% CI (NaN accuracy for zero pairs)."""
    outcomes = pair_outcomes(chosen, rejected, tie_tol)
    n = len(outcomes)
    if n == 0:
        nan = float("nan")
        return Accuracy(nan, 0, 0, 0, nan, nan)
    low, high = bootstrap_ci(outcomes, n_boot, seed)
    return Accuracy(float(outcomes.mean()), n, int((outcomes == 1.0).sum()), int((outcomes == 0.5).sum()),
                    low, high)


def grouped_accuracy(groups: Sequence[str | None], chosen: Sequence[float], rejected: Sequence[float], *,
                     tie_tol: float = 0.0, n_boot: int = 1000, seed: int = 0) -> dict[str, Accuracy]:
    """Accuracy per group label (pairs whose label is None are left out), keys sorted."""
    out: dict[str, Accuracy] = {}
    labels = sorted({g for g in groups if g is not None})
    for label in labels:
        idx = [i for i, g in enumerate(groups) if g == label]
        out[label] = accuracy([chosen[i] for i in idx], [rejected[i] for i in idx],
                              tie_tol=tie_tol, n_boot=n_boot, seed=seed)
    return out
