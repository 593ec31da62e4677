"""P-GRPO's reward outside TRL's GRPOTrainer: the engines researchers scale with.

`posterior` owns `PosteriorReward`, the framework-neutral entry point (picklable, sync and
async, per-completion results) that every adapter here calls: `verl` (compute_score for verl's
custom-reward hook, per sample and batched) and `verl_data` (`pgrpo data export --format verl`),
`openrlhf` (OpenRLHF's reward_func and protocol) and `reward_service` (`pgrpo reward serve`,
POST /get_reward), `trl_async` (picklable reward functions for TRL's AsyncGRPOTrainer);
`commands` wires the CLI. Everything goes through the `RewardEvaluator`, gate and verifier
`pgrpo train` uses. (Here, above `pgrpo.train`, because the recipe and its builders live there.)
"""

from pgrpo.engines import trl_async  # noqa: F401 - registers `pgrpo train`'s trainer: async reward functions
from pgrpo.engines.posterior import DEFAULT_CALL_TIMEOUT_S, PosteriorReward, RewardCallTimeout

__all__ = ["DEFAULT_CALL_TIMEOUT_S", "PosteriorReward", "RewardCallTimeout"]
