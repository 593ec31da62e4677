"""P-GRPO's reward behind verl's custom-reward hook (`reward.custom_reward_function`).

`compute_score` (async, reward-loop managers), `compute_score_sync` (NaiveRewardManager) and
`compute_score_batch` (BatchRewardManager) return "score" plus the logged components. The recipe
comes from `reward_kwargs` or env PGRPO_RECIPE; the task id from extra_info, else the ground truth.
`export_verl` (`pgrpo data export --format verl`) writes the parquet verl trains from, `problems.jsonl`
(found by task id) and `reward_recipe.yaml` (what `compute_score` reads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pgrpo.config import ConfigError, to_dict
from pgrpo.data.io import write_jsonl
from pgrpo.engines import DEFAULT_CALL_TIMEOUT_S, shared_reward
from pgrpo.engines.openrlhf import logged_components
from pgrpo.rewards.batch import CompletionReward
from pgrpo.train.config import TrainConfig
from pgrpo.train.tasks import load_targets
from pgrpo.verify import task_type

TASK_ID_KEY = "task_id"  # in extra_info (verl's per-row dict), as `pgrpo data export --format verl` writes it
PROBLEMS_FILE = "problems.jsonl"
RECIPE_FILE = "reward_recipe.yaml"


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
    return {"score": reward.total, **logged_components(reward)}


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


@dataclass(frozen=True)
class VerlExport:
    parquet: Path
    problems: Path
    recipe: Path
    rows: int


def export_verl(config: TrainConfig, out_dir: str | Path, *, split: str = "train") -> VerlExport:
    """Write the parquet, the problems file and the reward recipe into `out_dir` (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if config.data.think_prefilled:
        raise ConfigError("data.think_prefilled: verl's prompts are chat messages, which cannot end inside the "
                          "assistant's <think>; export with data.think_prefilled=false")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = task_type(config.task)
    targets = list(load_targets(config).values())
    rows = [{
        "data_source": f"pgrpo/{config.task}",
        "prompt": kind.messages(t, config.data.prompt_style),
        "ability": config.task,
        "reward_model": {"style": "rule", "ground_truth": t.task_id},
        "extra_info": {"task_id": t.task_id, "index": i, "split": split},
    } for i, t in enumerate(targets)]
    parquet = out / f"{split}.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    problems = out / PROBLEMS_FILE
    write_jsonl(problems, (kind.record(t) for t in targets))
    recipe = to_dict(config)
    # The sandbox as the recipe wrote it: no resolved worker count or default (the reward side has its own)
    recipe["sandbox"] = config.sandbox.model_dump(mode="json", exclude_unset=True)
    recipe["data"].update(source=PROBLEMS_FILE, format=kind.record_format,
                          split=None, limit=None, options={})
    recipe_path = out / RECIPE_FILE
    recipe_path.write_text("# written by `pgrpo data export --format verl`: the reward side of the recipe, its "
                           f"problems in {PROBLEMS_FILE}\n" + yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return VerlExport(parquet, problems, recipe_path, len(rows))
