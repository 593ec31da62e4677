"""Reward functions for P-GRPO: format, outcome and thinking rewards and their composition.

`components` holds the gate (pure), `batch` the per-batch evaluator, `trl_funcs` the TRL
adapters and `outcomes` the sandbox / math / reward-model back ends.
"""

from pgrpo.rewards.batch import (
    BatchRewards,
    BatchStats,
    CompletionReward,
    Outcome,
    RewardEvaluator,
    Target,
    ThinkingQuery,
)
from pgrpo.rewards.components import REWARD_MODES, RewardMode, compose, group_advantages, zero_std_fraction
from pgrpo.rewards.trl_funcs import make_reward_funcs

__all__ = [
    "REWARD_MODES", "BatchRewards", "BatchStats", "CompletionReward", "Outcome", "RewardEvaluator",
    "RewardMode", "Target", "ThinkingQuery", "compose", "group_advantages", "make_reward_funcs",
    "zero_std_fraction",
]
