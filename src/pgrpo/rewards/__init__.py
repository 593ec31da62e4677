"""Rewards for P-GRPO, framework-neutral: the modes, the gate and the per-batch evaluator (`batch`)."""

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
