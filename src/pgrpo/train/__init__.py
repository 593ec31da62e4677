"""P-GRPO training on TRL's GRPOTrainer: recipes (`config`), tasks (`tasks`), the runner and `pgrpo train`.

The names below are the public API; each is imported from its submodule on first use (no torch at
`import pgrpo.train`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrpo.train.config import DataSection, LoggingSection, ModelSection, RewardSection, TrainConfig  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.train.runner import run_training  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.train.warmup import encode_example, fine_tune  # noqa: F401 - exported lazily (__getattr__)

_CONFIG = {"DataSection", "LoggingSection", "ModelSection", "RewardSection", "TrainConfig"}
_RUNNER = {"run_training"}
_WARMUP = {"encode_example", "fine_tune"}

__all__ = sorted(_CONFIG | _RUNNER | _WARMUP)


def __getattr__(name: str) -> Any:
    if name in _CONFIG:
        import pgrpo.train.config as module
    elif name in _RUNNER:
        import pgrpo.train.runner as module
    elif name in _WARMUP:
        import pgrpo.train.warmup as module
    else:
        raise AttributeError(f"module 'pgrpo.train' has no attribute {name!r}")
    return getattr(module, name)
