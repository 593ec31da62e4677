"""P-GRPO's reward behind OpenRLHF's remote-reward protocol (`--reward.remote_url`).

`reward_func` is the hook OpenRLHF loads from a Python file (recipe from env PGRPO_RECIPE). OpenRLHF
sends prompt + response decoded with special tokens and the label (the task id); the response is
the query after its prompt with the policy tokenizer's special tokens removed, as TRL decodes it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pgrpo.engines.posterior import PosteriorReward, shared_reward
from pgrpo.rewards.batch import TIMEOUT_STATUS, CompletionReward

TOKENIZER_ENV = "PGRPO_TOKENIZER"  # the policy's tokenizer (its special tokens), else the recipe's model.path
LOGGED = ("format", "outcome", "thinking", "gated", "rm_scored", "pass_fraction", "timeout")


@dataclass(frozen=True)
class OpenRLHFRewards:
    """OpenRLHF's reward reply: one total per query in both `rewards` and `scores`, components in `extra_logs`."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"rewards": self.rewards, "scores": self.scores, "extra_logs": self.extra_logs}


def _components(r: CompletionReward) -> tuple[float, ...]:
    return (r.format, r.outcome, r.thinking, float(r.gated), float(r.raw_thinking is not None), r.pass_fraction,
            float(r.status == TIMEOUT_STATUS))


@lru_cache(maxsize=8)
def special_tokens_of(tokenizer_path: str | None) -> tuple[str, ...]:
    """The special-token strings of a tokenizer (longest first); () without one."""
    if not tokenizer_path:
        return ()
    from transformers import AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(tokenizer_path).all_special_tokens
    return tuple(sorted({t for t in tokens if t}, key=len, reverse=True))


def response_of(query: str, prompt: str | None, special_tokens: Sequence[str], where: str = "query") -> str:
    """The response inside an OpenRLHF query (prompt + response), special tokens removed."""
    if prompt is not None:
        if not query.startswith(prompt):
            raise ValueError(f"{where}: does not start with its prompt (OpenRLHF sends prompt + response)")
        query = query[len(prompt):]
    for token in special_tokens:
        query = query.replace(token, "")
    return query


def openrlhf_rewards(reward: PosteriorReward, completions: Sequence[str], labels: Sequence[Any]) -> OpenRLHFRewards:
    """The whole P-GRPO reward of each completion; labels are the task ids (ValueError naming the item)."""
    if len(completions) != len(labels):
        raise ValueError(f"{len(completions)} queries but {len(labels)} labels")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise ValueError(f"labels[{i}]: expected the pgrpo task id, got {label!r} (OpenRLHF's --label_key column)")
    return rewards_reply(reward.score(list(labels), list(completions)))


def rewards_reply(rewards: Sequence[CompletionReward]) -> OpenRLHFRewards:
    """The protocol's reply for scored completions (same order)."""
    totals = [r.total for r in rewards]
    columns = list(zip(*(_components(r) for r in rewards))) if rewards else [() for _ in LOGGED]
    return OpenRLHFRewards(totals, list(totals), {name: list(col) for name, col in zip(LOGGED, columns)})


def reward_tokenizer(reward: PosteriorReward) -> str | None:
    """Whose special tokens are stripped: env PGRPO_TOKENIZER, else the recipe's model.path."""
    return os.environ.get(TOKENIZER_ENV) or reward.config.model.path


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """OpenRLHF's file hook: the recipe from env PGRPO_RECIPE; see the module docstring."""
    reward = shared_reward()
    specials = special_tokens_of(reward_tokenizer(reward))
    texts = [response_of(q, p, specials, f"query {i}") for i, (q, p) in enumerate(zip(queries, prompts, strict=True))]
    return openrlhf_rewards(reward, texts, labels).to_wire()
