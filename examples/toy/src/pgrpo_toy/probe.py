"""The reward model's blind spot in the trap world, measured before RL on probe pairs.

Owns `ProbePair`, `probe_pairs(tasks)` and `score_probe(rm_path, pairs) -> ProbeResult`. For
every sign step of every task (pgrpo_toy.world.sign_steps) one pair: chosen = the canonical
reasoning, rejected = the same reasoning with that step replaced by the sign shortcut. Kind
"invalid" when the skip is wrong for the task (the rejected side really is worse: the RM should
prefer chosen), "valid" when it is right (both sides are correct; we report how often the RM
prefers the shortcut). Pairs are reasoning-only items, scored through
`pgrpo.rm.scoring.RewardScorer`; accuracy counts ties half and carries the percentile
bootstrap interval of `pgrpo.rm.metrics`. The demo takes probe tasks from the RM selection
split ("rm_select"), so the probe never reads the reported bench or the test split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pgrpo_toy.world import (
    ToyTask,
    canonical_reasoning,
    reasoning_lines,
    sign_steps,
    skip_is_valid,
    statement,
)

if TYPE_CHECKING:
    from pgrpo.rm import RMItem

ProbeKind = Literal["invalid", "valid"]


class ItemScorer(Protocol):
    def score(self, items: Sequence[RMItem]) -> list[float]: ...


@dataclass(frozen=True)
class ProbePair:
    """`chosen`: the canonical reasoning; `rejected`: it with step `index` skipped."""

    task: ToyTask
    chosen: str
    rejected: str
    kind: ProbeKind
    index: int = 0


@dataclass(frozen=True)
class ProbeResult:
    """invalid_accuracy: share of "invalid" pairs where the RM scores the canonical reasoning
    above the wrong shortcut (ties half; 0.5 = blind; NaN with no such pair), with its 95%
    bootstrap interval; valid_shortcut_preference: share of "valid" pairs where it scores the
    (correct) shortcut higher (ties half), with its interval."""

    invalid_accuracy: float
    invalid_ci95: tuple[float, float]
    invalid_n: int
    valid_shortcut_preference: float
    valid_n: int
    valid_ci95: tuple[float, float] = (math.nan, math.nan)


def probe_pairs(tasks: Sequence[ToyTask]) -> list[ProbePair]:
    """One pair per sign step of each task, in task order (see the module docstring)."""
    out = []
    for task in tasks:
        canonical = canonical_reasoning(task)
        for index in sign_steps(task.steps):
            skipped = "\n".join(reasoning_lines(task.steps, {index}))
            kind: ProbeKind = "valid" if skip_is_valid(task.steps, index) else "invalid"
            out.append(ProbePair(task, canonical, skipped, kind, index))
    return out


def score_probe(rm_path: str | None, pairs: Sequence[ProbePair], max_length: int = 256,
                scorer: ItemScorer | None = None, n_boot: int = 1000, seed: int = 0) -> ProbeResult:
    """Score `pairs` with the RM at `rm_path` (or an already loaded `scorer`)."""
    from pgrpo.rm import RewardScorer, RMItem, accuracy

    if scorer is None:
        if rm_path is None:
            raise ValueError("score_probe: pass rm_path or a scorer")
        scorer = RewardScorer(rm_path, max_length=max_length)
    items = [RMItem(statement(p.task), text) for p in pairs for text in (p.chosen, p.rejected)]
    scores = scorer.score(items) if items else []
    chosen, rejected = scores[0::2], scores[1::2]

    def of(kind: str) -> tuple[list[float], list[float]]:
        idx = [i for i, p in enumerate(pairs) if p.kind == kind]
        return [chosen[i] for i in idx], [rejected[i] for i in idx]

    c, r = of("invalid")
    bad = accuracy(c, r, n_boot=n_boot, seed=seed)
    c, r = of("valid")
    prefer = accuracy(r, c, n_boot=n_boot, seed=seed)  # the shortcut side "wins"
    return ProbeResult(bad.accuracy, (bad.ci_low, bad.ci_high), bad.n,
                       prefer.accuracy, prefer.n, (prefer.ci_low, prefer.ci_high))
