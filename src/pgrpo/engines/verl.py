"""P-GRPO's reward behind verl's custom-reward hook (`reward.custom_reward_function`).

`compute_score` (async, reward-loop managers), `compute_score_sync` (NaiveRewardManager) and
`compute_score_batch` (BatchRewardManager) return "score" plus the logged components. The recipe
comes from `reward_kwargs` or env PGRPO_RECIPE; the task id from extra_info, else the ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pgrpo.engines.posterior import DEFAULT_CALL_TIMEOUT_S, shared_reward
from pgrpo.rewards.batch import TIMEOUT_STATUS, CompletionReward

TASK_ID_KEY = "task_id"  # in extra_info (verl's per-row dict), as `pgrpo data export --format verl` writes it


def task_id_of(ground_truth: Any, extra_info: Mapping[str, Any] | None, where: str = "item") -> str:
    """The pgrpo task id of a verl row: extra_info["task_id"], else a string ground truth."""
    if extra_info and extra_info.get(TASK_ID_KEY):
        return str(extra_info[TASK_ID_KEY])
    if isinstance(ground_truth, str) and ground_truth:
        return ground_truth
    raise ValueError(f"verl reward: {where} has no extra_info.{TASK_ID_KEY} and no task id as its ground truth "
                     f"(got {ground_truth!r}); export the data with `pgrpo data export --format verl`")


def result_dict(reward: CompletionReward) -> dict[str, float]:
    """verl's dict form of one completion's reward: "score" plus the components it logs."""
    return {
        "score": reward.total,
        "format": reward.format,
        "outcome": reward.outcome,
        "thinking": reward.thinking,
        "gated": float(reward.gated),
        "rm_scored": float(reward.raw_thinking is not None),
        "pass_fraction": reward.pass_fraction,
        "timeout": float(reward.status == TIMEOUT_STATUS),
    }


async def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                        *, recipe: str | None = None, overrides: Sequence[str] = (),
                        timeout_s: float = DEFAULT_CALL_TIMEOUT_S, **_: Any) -> dict[str, float]:
    """verl's per-sample async hook (reward-loop managers); see the module docstring."""
    task_id = task_id_of(ground_truth, extra_info, f"a {data_source} row")
    rewards = await shared_reward(recipe, overrides, timeout_s).ascore([task_id], [solution_str])
    return result_dict(rewards[0])


def compute_score_sync(data_source: str, solution_str: str, ground_truth: Any,
                       extra_info: Mapping[str, Any] | None = None, *, recipe: str | None = None,
                       overrides: Sequence[str] = (), timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
                       **_: Any) -> dict[str, float]:
    """verl's per-sample sync hook (the legacy NaiveRewardManager); see the module docstring."""
    task_id = task_id_of(ground_truth, extra_info, f"a {data_source} row")
    return result_dict(shared_reward(recipe, overrides, timeout_s).score([task_id], [solution_str])[0])


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any] | None] | None = None, *, recipe: str | None = None,
                        overrides: Sequence[str] = (), timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
                        **_: Any) -> list[dict[str, float]]:
    """verl's batch hook (BatchRewardManager): one call per batch, the RM asked once for all of it."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    if not len(solution_strs) == len(ground_truths) == len(infos):
        raise ValueError(f"verl reward: {len(solution_strs)} responses, {len(ground_truths)} ground truths, "
                         f"{len(infos)} extra_infos")
    ids = [task_id_of(g, e, f"row {i}") for i, (g, e) in enumerate(zip(ground_truths, infos))]
    return [result_dict(r) for r in shared_reward(recipe, overrides, timeout_s).score(ids, list(solution_strs))]
