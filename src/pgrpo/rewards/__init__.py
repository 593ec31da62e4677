"""Rewards for P-GRPO, framework-neutral: the modes, the gate (`compose`) and the per-batch evaluator."""

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
