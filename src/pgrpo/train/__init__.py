"""P-GRPO training on TRL's GRPOTrainer: recipes, tasks, the runner, the SFT loop (no torch at import)."""

from pgrpo.train.config import DataSection, LoggingSection, ModelSection, RewardSection, TrainConfig
from pgrpo.train.runner import run_training
from pgrpo.train.tasks import encode_example, fine_tune, sft_loss

__all__ = ["DataSection", "LoggingSection", "ModelSection", "RewardSection", "TrainConfig", "encode_example",
           "fine_tune", "run_training", "sft_loss"]
