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

What the functions read: TRL's child parses each completion into an assistant message with the
tokenizer's response template, and for Qwen-family templates (Qwen2.5 included) that moves
`<think>...</think>` out of "content" into "reasoning_content". Given the policy's `tokenizer`
(a path), the functions score the completion's token ids decoded without special tokens: the text
GRPOTrainer gives `pgrpo train`. Without one, the message text with any reasoning put back in
its `<think>` block. `recipe_reward_funcs` is what `pgrpo train`'s `trainer: async` path
(`pgrpo.train.async_trainer`) calls: registered there when this module is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pgrpo.engines.posterior import PosteriorReward
from pgrpo.rewards.batch import COMPONENTS, completion_text
from pgrpo.train.async_trainer import ASYNC_REWARD_FACTORIES, REWARD_FACTORY
from pgrpo.train.config import TrainConfig


@lru_cache(maxsize=4)
def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def message_text(completion: Any) -> str:
    """A completion's text; an assistant message's "reasoning_content" goes back in its <think> block."""
    if isinstance(completion, list):
        parts = []
        for m in completion:
            if isinstance(m, dict) and m.get("reasoning_content"):
                parts.append(f"<think>\n{m['reasoning_content']}\n</think>\n")
            parts.append(completion_text([m]))
        return "".join(parts)
    return completion_text(completion)


class AsyncComponentReward:
    """One reward component as an AsyncGRPOTrainer reward function: `f(prompts, completions, task_id, ...)`."""

    def __init__(self, reward: PosteriorReward, component: str, tokenizer: str | None = None) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
        self.reward = reward
        self.component = component
        self.tokenizer = tokenizer  # the policy's (a path): completions are its decoded ids
        self.__name__ = component  # TRL names the logged metric after this (get_callable_name)

    def texts(self, completions: Sequence[Any], completion_ids: Sequence[Sequence[int]] | None) -> list[str]:
        if self.tokenizer is not None and completion_ids is not None:
            tok = _tokenizer(self.tokenizer)
            return [tok.decode(list(ids), skip_special_tokens=True) for ids in completion_ids]
        return [message_text(c) for c in completions]

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 task_id: Sequence[str] | None = None, completion_ids: Sequence[Sequence[int]] | None = None,
                 **_: Any) -> list[float]:
        if task_id is None:
            raise ValueError("reward function needs the dataset's 'task_id' column")
        rewards = self.reward.score(list(task_id), self.texts(completions, completion_ids))
        return [float(getattr(r, self.component)) for r in rewards]

    def __repr__(self) -> str:
        return f"AsyncComponentReward({self.component!r}, {self.reward!r})"


def make_async_reward_funcs(reward: PosteriorReward, tokenizer: str | None = None) -> list[AsyncComponentReward]:
    """[format, outcome, thinking] over one PosteriorReward (pass them to AsyncGRPOTrainer together);
    `tokenizer`: the policy's, whose decoded completion ids are scored (module docstring)."""
    if reward.config.reward.rm_url is None and reward.mode != "outcome":
        from pgrpo.config import ConfigError

        raise ConfigError(f"reward.rm_url: AsyncGRPOTrainer scores in a CUDA-free child process: serve the RM "
                          f"(`pgrpo rm serve`) for reward.mode={reward.mode}")
    return [AsyncComponentReward(reward, name, tokenizer) for name in COMPONENTS]


@ASYNC_REWARD_FACTORIES.register(REWARD_FACTORY)
def recipe_reward_funcs(config: TrainConfig, group_size: int, timeout_s: float, tokenizer: str) -> list[Any]:
    """`pgrpo train`'s `trainer: async` reward functions: the recipe's reward, served RM required."""
    reward = PosteriorReward(config, timeout_s=timeout_s, group_size=group_size, require_served_rm=True)
    return list(make_async_reward_funcs(reward, tokenizer))
