"""P-GRPO's reward outside TRL's GRPOTrainer: the engines researchers scale with.

`posterior` owns `PosteriorReward`, the framework-neutral entry point (picklable, sync and
async, per-completion results) that every adapter here calls: `verl` (a `compute_score` for verl's
custom-reward hook, per sample and batched). Everything goes through the `RewardEvaluator`,
gate and verifier `pgrpo train` uses.
"""

from pgrpo.engines.posterior import DEFAULT_CALL_TIMEOUT_S, PosteriorReward, RewardCallTimeout

__all__ = ["DEFAULT_CALL_TIMEOUT_S", "PosteriorReward", "RewardCallTimeout"]
