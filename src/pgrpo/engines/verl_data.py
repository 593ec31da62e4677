"""`pgrpo data export --format verl`: a recipe's problems as verl's RL parquet (chat-message prompts),
`problems.jsonl` (found by task id) and `reward_recipe.yaml` (what `compute_score` reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pgrpo.config import ConfigError, to_dict
from pgrpo.data.io import write_jsonl
from pgrpo.train.config import TrainConfig
from pgrpo.train.tasks import load_targets
from pgrpo.verify import task_type

PROBLEMS_FILE = "problems.jsonl"
RECIPE_FILE = "reward_recipe.yaml"


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
    # The sandbox as the recipe wrote it: not this machine's resolved worker count, and no default written
    # out (the reward side resolves its own, and a test kind's limits still apply where they would here).
    recipe["sandbox"] = config.sandbox.model_dump(mode="json", exclude_unset=True)
    recipe["data"].update(source=PROBLEMS_FILE, format=kind.record_format,
                          split=None, limit=None, options={})
    recipe_path = out / RECIPE_FILE
    recipe_path.write_text("# written by `pgrpo data export --format verl`: the reward side of the recipe, its "
                           f"problems in {PROBLEMS_FILE}\n" + yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return VerlExport(parquet, problems, recipe_path, len(rows))
