"""The shipped recipes say what they do: every value labelled by where it comes from, no fixed
sandbox worker count, clip-higher only where several optimizer updates per rollout make it bind,
and every key known to the transformers/TRL the GPU stack pins (checked offline against
tests/fixtures/recipes/pinned_config_fields.json, generated from the pinned wheels by the script
next to it). That every recipe passes `pgrpo train --check` is tests/test_recipes.py's (and, with
the pinned versions installed in a throwaway venv, tests/test_gpu_install.py's)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from pgrpo.config import load_config
from pgrpo.rm.config import RMTrainConfig
from pgrpo.rm.fitting import trainer_arguments
from pgrpo.train.config import load_train_config, validate_train_config

ROOT = Path(__file__).resolve().parents[1]
TRAIN_RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
# GRPOTrainer recipes (`trainer: trl`); `trainer: async` ones run on AsyncGRPOTrainer's own schedule.
GRPO_RECIPES = [r for r in TRAIN_RECIPES if load_train_config(r).trainer == "trl"]
RM_RECIPES = sorted((ROOT / "recipes" / "rm").glob("*.yaml"))
FIELDS_SCRIPT = ROOT / "tests" / "fixtures" / "recipes" / "pinned_config_fields.py"
LABELS = ("[paper]", "[TRL default]", "[pgrpo default]", "[ours]")
# Not labelled: the recipe format's version, and the timeout lines (sized against the collective
# timeout by the reward-failure work of #22, which owns those lines).
UNLABELLED = re.compile(r"^(version|\w*timeout\w*)$")
# What the RM trainers pass besides trainer_arguments (pgrpo.rm.fitting).
RM_EXTRA_KEYS = {"RewardConfig": {"center_rewards_coefficient"}, "DPOConfig": {"beta", "loss_type"}}


def _fields_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pinned_config_fields", FIELDS_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pinned() -> dict[str, set[str]]:
    data = json.loads((FIELDS_SCRIPT.with_suffix(".json")).read_text())
    assert data["pins"] == _fields_module().pins(), (
        "pinned_config_fields.json was made for other pins than constraints/gpu.txt: re-run "
        "python tests/fixtures/recipes/pinned_config_fields.py")
    return {name: set(fields) for name, fields in data["classes"].items()}


def test_the_field_extractor_reads_what_dataclasses_see() -> None:
    import trl
    from trl import DPOConfig, GRPOConfig, RewardConfig

    site = Path(trl.__file__).resolve().parents[1]
    read = _fields_module().config_fields(lambda path: (site / path).read_text(encoding="utf-8"))
    for cls in (GRPOConfig, RewardConfig, DPOConfig):
        assert read[cls.__name__] == sorted(f.name for f in dataclasses.fields(cls) if f.init), cls.__name__


def _grpo_keys(recipe: Path) -> set[str]:
    """Every GRPOConfig keyword a recipe makes the trainer pass (pgrpo's defaults included)."""
    return set(validate_train_config(load_train_config(recipe), check_paths=False)) | {"output_dir"}


def _missing(keys: set[str], fields: set[str]) -> list[str]:
    return sorted(keys - fields)


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda p: p.name)
def test_training_recipe_keys_exist_in_the_pinned_grpo_config(recipe: Path, pinned: dict[str, set[str]]) -> None:
    fields = pinned["GRPOConfig"]  # TrainingArguments' fields (the pinned transformers) and GRPOConfig's own
    if load_train_config(recipe).trainer == "async":  # AsyncGRPOConfig: the same TrainingArguments + its own
        import trl
        from trl.experimental.async_grpo import AsyncGRPOConfig

        pin = re.search(r"^trl==(\S+)", (ROOT / "constraints" / "gpu.txt").read_text(), re.M)
        assert pin and pin.group(1) == trl.__version__, "AsyncGRPOConfig's own fields are read from the installed TRL"
        fields = fields | set(AsyncGRPOConfig.__annotations__)
    assert not _missing(_grpo_keys(recipe), fields), "unknown to the GPU pins' GRPOConfig"


@pytest.mark.parametrize("recipe", RM_RECIPES, ids=lambda p: p.name)
def test_rm_recipe_keys_exist_in_the_pinned_trainer_configs(recipe: Path, pinned: dict[str, set[str]]) -> None:
    keys = set(trainer_arguments(load_config(RMTrainConfig, recipe), has_eval=True))
    for name, extra in RM_EXTRA_KEYS.items():
        assert not _missing(keys | extra, pinned[name]), f"unknown to the GPU pins' {name}"


def test_a_key_only_the_cpu_stack_knows_is_caught(pinned: dict[str, set[str]]) -> None:
    from trl import GRPOConfig

    newer = sorted({f.name for f in dataclasses.fields(GRPOConfig) if f.init} - pinned["GRPOConfig"])
    if not newer:
        pytest.skip("the installed transformers/TRL know no field the pinned ones lack")
    keys = _grpo_keys(GRPO_RECIPES[0]) | {newer[0]}
    assert _missing(keys, pinned["GRPOConfig"]) == [newer[0]]


def _recipe_yaml(recipe: Path) -> dict:
    return yaml.safe_load(recipe.read_text())


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda p: p.name)
def test_no_recipe_fixes_the_sandbox_worker_count(recipe: Path) -> None:
    # workers: 0 (unset) = the node's usable CPUs / LOCAL_WORLD_SIZE; a fixed count is per rank
    # and oversubscribes a node of several ranks (wall-clock limits then make false R_o = 0).
    assert not (_recipe_yaml(recipe).get("sandbox") or {}).get("workers")


def _world_size(recipe: Path) -> int:
    """Training processes of the launch command in the recipe's header (1 without accelerate)."""
    header = recipe.read_text().split("\nversion:", 1)[0]
    if (match := re.search(r"--num_processes (\d+)", header)):
        return int(match.group(1))
    if (match := re.search(r"--config_file (\S+)", header)):
        return int(yaml.safe_load((ROOT / match.group(1)).read_text())["num_processes"])
    return 1


@pytest.mark.parametrize("recipe", GRPO_RECIPES, ids=lambda p: p.name)
def test_clip_higher_binds_where_a_recipe_sets_it(recipe: Path) -> None:
    """TRL 1.16 generates every steps_per_generation x num_iterations micro-batches and steps the
    optimizer every gradient_accumulation_steps: with one step per rollout the ratio is 1 and the
    clip (epsilon_high) never binds. A recipe that sets epsilon_high must give >= 2 updates."""
    grpo = _recipe_yaml(recipe).get("grpo") or {}
    kwargs = validate_train_config(load_train_config(recipe), check_paths=False)
    accumulation = kwargs.get("gradient_accumulation_steps", 1)
    per_rollout = kwargs.get("steps_per_generation") or accumulation
    micro_batches = per_rollout * kwargs.get("num_iterations", 1)
    rollout = kwargs.get("per_device_train_batch_size", 8) * _world_size(recipe) * per_rollout
    assert rollout % kwargs["num_generations"] == 0, f"{rollout} completions per rollout: not whole groups"
    if "epsilon_high" in grpo:
        assert grpo["epsilon_high"] > kwargs.get("epsilon", 0.2)
        assert micro_batches % accumulation == 0 and micro_batches // accumulation >= 2, (
            f"{micro_batches} micro-batches per rollout, {accumulation} per update: clip-higher never binds")


def _unlabelled_lines(text: str) -> list[str]:
    bad = []
    for line in text.splitlines():
        match = re.match(r"^\s*([A-Za-z_]\w*):\s*([^\s#][^#]*?)?\s*(#.*)?$", line)
        if not match or line.lstrip().startswith("#"):
            continue
        key, value, comment = match.groups()
        if value is None or UNLABELLED.match(key):
            continue  # a section header, or a line this test leaves alone
        if not comment or not any(label in comment for label in LABELS):
            bad.append(line.strip())
    return bad


@pytest.mark.parametrize("recipe", TRAIN_RECIPES + RM_RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_recipe_value_says_where_it_comes_from(recipe: Path) -> None:
    assert _unlabelled_lines(recipe.read_text()) == []


def test_the_label_check_sees_a_missing_label() -> None:
    text = "grpo:\n  learning_rate: 1.0e-6    # [TRL default]\n  num_generations: 8   # group size\n  beta: 0.0\n"
    assert _unlabelled_lines(text) == ["num_generations: 8   # group size", "beta: 0.0"]
