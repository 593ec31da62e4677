"""Reward composition (the posterior gate) and GRPO group statistics, as pure functions.

Owns: the reward modes (`REWARD_MODES`: the method's fixed three, posterior, additive, outcome), `compose`,
which is the ONE place where R_f, R_o and R_t become a total, and the group statistics
the trainer's advantage step uses (group advantages, zero-variance fraction). No I/O, no
models, no torch: everything here is plain arithmetic on floats so it is trivially testable.

Formulas (w = thinking weight, default 1):
    posterior  R = R_f + R_o + w * R_o * R_t     (R_t only counts when the tests pass)
    additive   R = R_f + R_o + w * R_t           (the ablation that gets reward-hacked)
    outcome    R = R_f + R_o                     (the outcome-only GRPO baseline)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RewardMode:
    """How the thinking reward enters the total.

    uses_thinking: the mode has a thinking term at all (needs a reward model).
    gated: the thinking term is multiplied by R_o, so the RM is consulted only when R_o = 1.
    """

    name: str
    uses_thinking: bool
    gated: bool

    def needs_thinking(self, r_o: float) -> bool:
        """Whether R_t must be computed for a completion with outcome reward `r_o`."""
        return self.uses_thinking and (not self.gated or r_o > 0.0)

    def thinking_term(self, r_o: float, r_t: float, weight: float = 1.0) -> float:
        """The thinking part of the total: w*R_o*R_t (gated), w*R_t (ungated) or 0."""
        if not self.uses_thinking:
            return 0.0
        return weight * (r_o * r_t if self.gated else r_t)


REWARD_MODES: dict[str, RewardMode] = {mode.name: mode for mode in (
    RewardMode("posterior", uses_thinking=True, gated=True),
    RewardMode("additive", uses_thinking=True, gated=False),
    RewardMode("outcome", uses_thinking=False, gated=False))}


def get_mode(name: str) -> RewardMode:
    """The mode named `name`; KeyError naming the known ones otherwise."""
    try:
        return REWARD_MODES[name]
    except KeyError:
        raise KeyError(f"unknown reward mode {name!r}; known: {', '.join(sorted(REWARD_MODES))}") from None


def compose(r_f: float, r_o: float, r_t: float, mode: str | RewardMode = "posterior",
            weight: float = 1.0) -> float:
    """Total reward of one completion: R_f + R_o + thinking_term(R_o, R_t)."""
    spec = mode if isinstance(mode, RewardMode) else get_mode(mode)
    return r_f + r_o + spec.thinking_term(r_o, r_t, weight)


def group_std(group: Sequence[float]) -> float:
    """Sample standard deviation (Bessel-corrected, as TRL's nanstd) of one group; 0 for size 1."""
    n = len(group)
    if n < 2:
        return 0.0
    mean = sum(group) / n
    return math.sqrt(sum((x - mean) ** 2 for x in group) / (n - 1))


def keyed_groups(keys: Sequence[str], group_size: int) -> list[list[int]]:
    """Index lists of whole groups: runs of equal consecutive keys (prompt ids), cut into groups
    of `group_size`; a run that is not a multiple of it (a group split across processes) is skipped.

    keys: shape (N,). Returns lists of `group_size` indices into it.
    """
    groups: list[list[int]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            if (i - start) % group_size == 0:
                groups.extend(list(range(j, j + group_size)) for j in range(start, i, group_size))
            start = i
    return groups
