"""Rewards for P-GRPO, framework-neutral: format, outcome and thinking rewards and their composition.

`batch` holds the modes and the gate (`compose`, pure) and the per-batch evaluator (R_f and R_o come
from `pgrpo.verify`); `thinking` builds the reward-model back end. What TRL calls (the three reward
functions, the logging callbacks) is `pgrpo.train.trl_hooks`; other engines adapt in `pgrpo.engines`.
"""

from pgrpo.rewards.batch import (
    REWARD_MODES,
    BatchRewards,
    BatchStats,
    CompletionReward,
    RewardEvaluator,
    RewardMode,
    compose,
)

__all__ = [
    "REWARD_MODES", "BatchRewards", "BatchStats", "CompletionReward", "RewardEvaluator", "RewardMode",
    "compose",
]
