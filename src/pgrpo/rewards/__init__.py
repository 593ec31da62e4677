"""Reward functions for P-GRPO: format, outcome and thinking rewards and their composition.

`components` holds the gate (pure), `batch` the per-batch evaluator (R_f and R_o come from
`pgrpo.verify`), `thinking` the reward-model back end and `trl_funcs` the TRL adapters.
"""

from pgrpo.rewards.batch import (
    BatchRewards,
    BatchStats,
    CompletionReward,
    RewardEvaluator,
)
from pgrpo.rewards.components import REWARD_MODES, RewardMode, compose
from pgrpo.rewards.trl_funcs import make_reward_funcs

__all__ = [
    "REWARD_MODES", "BatchRewards", "BatchStats", "CompletionReward", "RewardEvaluator", "RewardMode",
    "compose", "make_reward_funcs",
]
