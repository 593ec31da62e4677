"""The thinking reward R_t behind `RewardEvaluator`: a trained reasoning reward model.

Owns `rm_thinking_fn`: R_t = `RewardScorer.score` (sigmoid of the RM's score) of (statement,
reasoning, code). The scorer reads every item on the layout its manifest records: the code
only for an RM trained with code (`include_code`), so the RM reads exactly what `pgrpo rm
train` gave it and no recipe key restates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgrpo.rewards.batch import ThinkingFn, ThinkingQuery

if TYPE_CHECKING:
    from pgrpo.rm.scoring import RewardScorer


def rm_thinking_fn(scorer: RewardScorer) -> ThinkingFn:
    """Thinking reward from a `pgrpo.rm.scoring.RewardScorer` (scores already in [0, 1])."""
    from pgrpo.rm.scoring import RMItem

    def thinking(queries: Sequence[ThinkingQuery]) -> list[float]:
        return [float(s) for s in scorer.score([RMItem(q.statement, q.reasoning, q.code) for q in queries])]

    return thinking
