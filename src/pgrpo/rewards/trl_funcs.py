"""Adapters that hand the reward components to TRL's GRPOTrainer as three reward functions.

Owns `make_reward_funcs(evaluator)`: callables named "format", "outcome" and "thinking"
(TRL logs `rewards/<name>/mean`), whose per-completion sum is exactly the composed total
(TRL sums reward functions with weight 1 each). All three read one cached
`RewardEvaluator` computation per batch. The call that computes a batch also reports the
batch stats through TRL's `log_metric` hook and per-completion status through `log_extra`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pgrpo.rewards.batch import RewardEvaluator

COMPONENTS = ("format", "outcome", "thinking")


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a plain string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


class ComponentReward:
    """One reward component as a TRL reward function: `f(prompts, completions, task_id, ...)`."""

    def __init__(self, evaluator: RewardEvaluator, component: str) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
        self.evaluator = evaluator
        self.component = component
        self.__name__ = component  # TRL names the logged metric after this

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 task_id: Sequence[str] | None = None, log_metric: Callable[[str, float], None] | None = None,
                 log_extra: Callable[[str, list], None] | None = None, **_: Any) -> list[float]:
        if task_id is None:
            raise ValueError("reward function needs the dataset's 'task_id' column")
        texts = [completion_text(c) for c in completions]
        batch, _fresh = self.evaluator.evaluate(list(task_id), texts)
        # TRL calls the components in order once per step: the first one logs the step's stats,
        # also when an identical batch comes back on a later step (served from the cache).
        if self.component == COMPONENTS[0]:
            if log_metric is not None:
                for name, value in batch.stats.as_metrics().items():
                    log_metric(name, value)
            if log_extra is not None:
                log_extra("status", [r.status for r in batch.rewards])
                log_extra("pass_fraction", [r.pass_fraction for r in batch.rewards])
        return batch.column(self.component)

    def __repr__(self) -> str:
        return f"ComponentReward({self.component!r}, mode={self.evaluator.mode.name!r})"


def make_reward_funcs(evaluator: RewardEvaluator) -> list[ComponentReward]:
    """[format, outcome, thinking] reward functions sharing `evaluator` (pass to GRPOTrainer)."""
    return [ComponentReward(evaluator, name) for name in COMPONENTS]
