"""P-GRPO's reward outside TRL's GRPOTrainer: `PosteriorReward` and the adapters that call it
(verl, OpenRLHF, `pgrpo reward serve`, AsyncGRPOTrainer), all through `pgrpo train`'s evaluator.
"""

from pgrpo.engines.posterior import DEFAULT_CALL_TIMEOUT_S, PosteriorReward, RewardCallTimeout

__all__ = ["DEFAULT_CALL_TIMEOUT_S", "PosteriorReward", "RewardCallTimeout"]
