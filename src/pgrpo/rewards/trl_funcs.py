"""Adapters that hand the reward components to TRL's GRPOTrainer as three reward functions.

Owns `make_reward_funcs(evaluator)`: callables named "format", "outcome" and "thinking"
(TRL logs `rewards/<name>/mean`), whose per-completion sum is exactly the composed total
(TRL sums reward functions with weight 1 each). All three read one cached
`RewardEvaluator` computation per batch. The first function of each call also reports the
step's stats through TRL's `log_metric` hook and per-completion status through `log_extra`.

Global metrics: each rank's reward functions see only that rank's slice, and TRL 1.16 averages
`log_metric` values over ranks (sum of values / number of values, all ranks), which turns
counts into per-rank means and hides the slowest rank's time. So the first function gathers
every rank's `BatchStats` (the injected `gather`, `pgrpo.train.distributed.gather_json` in
training: a collective, called by every rank on every step) and logs `global_metrics` of them:
the same value on every rank, which TRL's average leaves unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pgrpo.rewards.batch import BatchStats, RewardEvaluator, global_metrics

COMPONENTS = ("format", "outcome", "thinking")
# value -> every rank's value in rank order (a collective); one process: [value].
Gather = Callable[[Any], list[Any]]


def _single_process(value: Any) -> list[Any]:
    return [value]


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a plain string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


class ComponentReward:
    """One reward component as a TRL reward function: `f(prompts, completions, task_id, ...)`."""

    def __init__(self, evaluator: RewardEvaluator, component: str, gather: Gather = _single_process) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
        self.evaluator = evaluator
        self.component = component
        self.gather = gather
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
            # Unconditional: every rank must take part in the gather, whatever its hooks.
            parts = [BatchStats.from_dict(d) for d in self.gather(batch.stats.to_dict())]
            if log_metric is not None:
                for name, value in global_metrics(parts).items():
                    log_metric(name, value)
            if log_extra is not None:
                log_extra("status", [r.status for r in batch.rewards])
                log_extra("pass_fraction", [r.pass_fraction for r in batch.rewards])
        return batch.column(self.component)

    def __repr__(self) -> str:
        return f"ComponentReward({self.component!r}, mode={self.evaluator.mode.name!r})"


def make_reward_funcs(evaluator: RewardEvaluator, gather: Gather = _single_process) -> list[ComponentReward]:
    """[format, outcome, thinking] reward functions sharing `evaluator` (pass to GRPOTrainer);
    `gather` combines the stats of all ranks (see the module docstring)."""
    return [ComponentReward(evaluator, name, gather) for name in COMPONENTS]
