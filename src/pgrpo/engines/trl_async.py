"""P-GRPO's reward functions for TRL's experimental AsyncGRPOTrainer (TRL 1.16).

Owns `AsyncComponentReward` and `make_async_reward_funcs(reward)`: the "format", "outcome" and
"thinking" components as picklable callables over ONE `PosteriorReward`. AsyncGRPOTrainer pickles
its reward functions (`AsyncRolloutWorker.start`), unpickles them in a spawned, CUDA-free child on
rank 0, and calls them once per group, concurrently in threads (`_AsyncRolloutLoop._score_group`:
`asyncio.to_thread` per function), with completions, prompts and the dataset columns (`task_id`),
but without `log_metric` or trainer state; it sums them with weight 1 and logs
`rewards/<name>` itself. The three share the PosteriorReward pickled with them (one pickle, one
object), whose evaluator computes a group once however the threads interleave; its RM must be
served (`reward.rm_url`: `require_served_rm`), as the child has no GPU. Metrics: one scorer
process sees every group, so TRL's `rewards/<name>` are global by construction; pgrpo's own
per-step stats (`BatchStats`: pass rate, zero-variance groups, sandbox/RM seconds) have no hook
there and are not logged on this path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgrpo.engines.posterior import PosteriorReward
from pgrpo.rewards.trl_funcs import COMPONENTS, completion_text


class AsyncComponentReward:
    """One reward component as an AsyncGRPOTrainer reward function: `f(prompts, completions, task_id, ...)`."""

    def __init__(self, reward: PosteriorReward, component: str) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
        self.reward = reward
        self.component = component
        self.__name__ = component  # TRL names the logged metric after this (get_callable_name)

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 task_id: Sequence[str] | None = None, **_: Any) -> list[float]:
        if task_id is None:
            raise ValueError("reward function needs the dataset's 'task_id' column")
        rewards = self.reward.score(list(task_id), [completion_text(c) for c in completions])
        return [float(getattr(r, self.component)) for r in rewards]

    def __repr__(self) -> str:
        return f"AsyncComponentReward({self.component!r}, {self.reward!r})"


def make_async_reward_funcs(reward: PosteriorReward) -> list[AsyncComponentReward]:
    """[format, outcome, thinking] over one PosteriorReward (pass them to AsyncGRPOTrainer together)."""
    if reward.config.reward.rm_url is None and reward.mode != "outcome":
        from pgrpo.config import ConfigError

        raise ConfigError(f"reward.rm_url: AsyncGRPOTrainer scores in a CUDA-free child process: serve the RM "
                          f"(`pgrpo rm serve`) for reward.mode={reward.mode}")
    return [AsyncComponentReward(reward, name) for name in COMPONENTS]
