"""Paired statistics of the demo study: per-seed differences between two reward modes.

Owns `PairedComparison` / `paired_comparison(a, b)` (mean of the paired differences a - b, its
95% Student t interval, the exact two-sided sign-flip p-value and the minimum detectable effect
at the decision alpha, 0.025 two-sided, and 80% power; Student t quantiles from scipy.stats), and
`StoppingRule`, the seed-stage plan the study fixes before it sees a result. Pure functions, no I/O.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats

from pgrpo.errors import PgrpoError

MAX_SIGN_FLIP_K = 20  # 2^20 sign patterns: exact enumeration stays under a second
DECISION_ALPHA = 0.025  # the study claims a difference when its two-sided sign-flip p is below this
MDE_POWER = 0.80


def sign_flip_p(diffs: Sequence[float]) -> float:
    """Exact two-sided sign-flip (paired randomization) p-value: the share of the 2^K sign patterns
    of the differences whose mean is at least as far from 0 as the observed mean."""
    k = len(diffs)
    if k == 0:
        raise ValueError("sign_flip_p: no differences")
    if k > MAX_SIGN_FLIP_K:
        raise ValueError(f"sign_flip_p: exact enumeration supports K <= {MAX_SIGN_FLIP_K}, got {k}")
    observed = abs(sum(diffs))
    tol = 1e-12 * max(1.0, sum(abs(d) for d in diffs))  # equal sums up to float rounding count as ties
    hits = sum(abs(sum(s * d for s, d in zip(signs, diffs))) >= observed - tol
               for signs in itertools.product((1.0, -1.0), repeat=k))
    p: float = hits / 2 ** k
    return p


@dataclass(frozen=True)
class PairedComparison:
    """Paired differences a - b over seeds. `sd`, `ci95` and `mde` are None below two seeds.
    `mde` is the minimum detectable effect of a two-sided test at `mde_alpha` with power `mde_power`."""

    diffs: tuple[float, ...]
    mean: float
    sd: float | None
    ci95: tuple[float, float] | None
    sign_flip_p: float
    mde: float | None
    mde_alpha: float
    mde_power: float

    @property
    def k(self) -> int:
        return len(self.diffs)

    @property
    def mde80(self) -> float | None:
        """Alias of `mde` for callers that still read `mde80` (at 80% power; None at another power)."""
        return self.mde if math.isclose(self.mde_power, 0.80) else None

    @property
    def interval_excludes_zero(self) -> bool:
        return self.ci95 is not None and (self.ci95[0] > 0 or self.ci95[1] < 0)

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "diffs": list(self.diffs), "mean": self.mean, "sd": self.sd,
                "ci95": list(self.ci95) if self.ci95 else None, "sign_flip_p": self.sign_flip_p,
                "mde": self.mde, "mde_alpha": self.mde_alpha, "mde_power": self.mde_power, "mde80": self.mde80}


def paired_comparison(a: Sequence[float], b: Sequence[float], alpha: float = DECISION_ALPHA,
                      power: float = MDE_POWER, digits: int = 6) -> PairedComparison:
    """Compare `a[i]` with `b[i]` (the same seed i in two modes): mean difference, 95% t-interval
    (df K-1, descriptive), exact sign-flip p, and the minimum detectable effect of a two-sided test
    at `alpha` (the study's decision alpha by default) with `power`,
    (t_{1-alpha/2,K-1} + t_{power,K-1}) * sd / sqrt(K)."""
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise PgrpoError(f"paired_comparison: alpha and power must lie in (0, 1), got alpha={alpha}, power={power}")
    if len(a) != len(b):
        raise PgrpoError(f"paired_comparison: {len(a)} values against {len(b)}; pairs need one of each per seed")
    if not a:
        raise PgrpoError("paired_comparison: no seeds")
    diffs = tuple(x - y for x, y in zip(a, b))
    k = len(diffs)
    mean = statistics.fmean(diffs)
    sd = ci95 = mde = None
    if k >= 2:
        sd = statistics.stdev(diffs)
        se = sd / math.sqrt(k)
        t = stats.t(k - 1)
        half = float(t.ppf(0.975)) * se
        ci95 = (round(mean - half, digits), round(mean + half, digits))
        mde = round(float(t.ppf(1.0 - alpha / 2.0) + t.ppf(power)) * se, digits)
        sd = round(sd, digits)
    return PairedComparison(tuple(round(d, digits) for d in diffs), round(mean, digits), sd, ci95,
                            sign_flip_p(diffs), mde, alpha, power)


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str


@dataclass(frozen=True)
class StoppingRule:
    """Seeds in stages, fixed before any result: run `stages[0]`; after each stage but the last,
    stop when the primary comparison's sign-flip p is below `interim_alpha`; the last stage is
    the cap, where the same test decides whether a difference is claimed (every look at
    `interim_alpha`: Bonferroni over the looks); the 95% t-intervals are descriptive."""

    stages: tuple[tuple[int, ...], ...] = ((0, 1, 2, 3, 4, 5, 6, 7), (8, 9, 10, 11))
    primary: tuple[str, str] = ("posterior", "outcome")
    interim_alpha: float = DECISION_ALPHA

    def __post_init__(self) -> None:
        seeds = [s for stage in self.stages for s in stage]
        if not self.stages or not all(self.stages) or len(set(seeds)) != len(seeds):
            raise PgrpoError(f"StoppingRule.stages: expected non-empty stages of distinct seeds, got {self.stages}")

    @property
    def cap(self) -> int:
        return sum(len(stage) for stage in self.stages)

    def seeds_through(self, stage: int) -> tuple[int, ...]:
        """Every seed of stages 0..`stage`."""
        return tuple(s for st in self.stages[:stage + 1] for s in st)

    def min_attainable_p(self, k: int) -> float:
        """The smallest two-sided sign-flip p possible with K seeds (all differences of one sign)."""
        p: float = 2.0 / 2 ** k
        return p

    def decide(self, stage: int, primary: PairedComparison) -> StopDecision:
        """After `stage` (0-based) with the primary comparison at that look: stop or go on."""
        if stage >= len(self.stages) - 1:
            return StopDecision(True, f"cap reached: K = {primary.k} seeds")
        if primary.sign_flip_p < self.interim_alpha:
            return StopDecision(True, f"interim look at K = {primary.k}: sign-flip p {primary.sign_flip_p:.4f} "
                                      f"< {self.interim_alpha}")
        return StopDecision(False, f"interim look at K = {primary.k}: sign-flip p {primary.sign_flip_p:.4f} "
                                   f">= {self.interim_alpha}; adding seeds {list(self.stages[stage + 1])}")

    def describe(self) -> str:
        first = len(self.stages[0])
        text = (f"Stopping rule (fixed before the study ran): seeds {list(self.stages[0])} first; if "
                f"{self.primary[0]} - {self.primary[1]} has an exact two-sided sign-flip p < {self.interim_alpha} "
                f"stop, otherwise add the next stage of seeds, up to a cap of {self.cap} seeds "
                f"({' then '.join(str(list(s)) for s in self.stages[1:]) or 'none'}). The same test decides at "
                f"the cap: a difference is claimed only if its sign-flip p < {self.interim_alpha}. At most "
                f"{len(self.stages)} looks at alpha {self.interim_alpha} each keep the study-wide false-positive "
                f"rate of the primary comparison at or below {len(self.stages) * self.interim_alpha:g} "
                f"(Bonferroni); the 95% t-intervals are descriptive. Secondary comparisons use the same test, "
                f"uncorrected for their number.")
        floor = self.min_attainable_p(first)
        if len(self.stages) > 1 and floor >= self.interim_alpha:
            text += (f" Note: with K = {first} the smallest possible sign-flip p is 2/2^{first} = {floor:.4f}, "
                     f"not below {self.interim_alpha}, so the interim look cannot stop the study: it runs "
                     f"all {self.cap} seeds.")
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"stages": [list(s) for s in self.stages], "primary": list(self.primary),
                "interim_alpha": self.interim_alpha, "cap": self.cap, "description": self.describe()}
