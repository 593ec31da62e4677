"""P-GRPO training on TRL's GRPOTrainer: recipes (`config`), tasks (`tasks`), the runner and `pgrpo train`.

The names below are the public API; each is imported from its submodule on first use (no torch at
`import pgrpo.train`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # "X as X": re-exported for type checkers; at run time __getattr__ imports X on first use
    from pgrpo.train.config import DataSection as DataSection
    from pgrpo.train.config import LoggingSection as LoggingSection
    from pgrpo.train.config import ModelSection as ModelSection
    from pgrpo.train.config import RewardSection as RewardSection
    from pgrpo.train.config import TrainConfig as TrainConfig
    from pgrpo.train.runner import run_training as run_training
    from pgrpo.train.warmup import encode_example as encode_example
    from pgrpo.train.warmup import fine_tune as fine_tune
    from pgrpo.train.warmup import sft_loss as sft_loss

_CONFIG = {"DataSection", "LoggingSection", "ModelSection", "RewardSection", "TrainConfig"}
_RUNNER = {"run_training"}
_WARMUP = {"encode_example", "fine_tune", "sft_loss"}

__all__ = sorted(_CONFIG | _RUNNER | _WARMUP)


def __getattr__(name: str) -> Any:
    if name in _CONFIG:
        import pgrpo.train.config

        return getattr(pgrpo.train.config, name)
    elif name in _RUNNER:
        import pgrpo.train.runner

        return getattr(pgrpo.train.runner, name)
    elif name in _WARMUP:
        import pgrpo.train.warmup

        return getattr(pgrpo.train.warmup, name)
    else:
        raise AttributeError(f"module 'pgrpo.train' has no attribute {name!r}")
