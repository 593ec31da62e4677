"""Recipe loading and validation: every error names its key and happens before any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pgrpo.cli import main
from pgrpo.config import ConfigError
from pgrpo.train.config import GRPO_DEFAULTS, load_train_config, validate_train_config

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
TINY = RECIPES / "tiny-cpu.yaml"
TINY_DATA = str(RECIPES / "data" / "tiny-humaneval.jsonl")
TRAIN_RECIPES = sorted(p for p in RECIPES.glob("*.yaml"))


def tiny(tmp_path, *overrides):
    return load_train_config(TINY, [f"output_dir={tmp_path}", f"data.source={TINY_DATA}", *overrides])


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any attempt to load or build a model fails the test."""
    import transformers

    import pgrpo.tiny

    def boom(*args, **kwargs):
        raise AssertionError("a model was loaded during config validation")

    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", boom)
    monkeypatch.setattr(pgrpo.tiny, "build_tiny_model", boom)


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda p: p.name)
def test_every_recipe_loads_and_validates(recipe):
    config = load_train_config(recipe)
    kwargs = validate_train_config(config, check_paths=False)
    if config.trainer == "async":  # AsyncGRPOConfig has no beta / loss_type: no KL, token-level loss built in
        assert not {"beta", "loss_type"} & set(kwargs) and (kwargs["epsilon"], kwargs["epsilon_high"]) == (0.2, 0.28)
        return
    assert kwargs["beta"] == 0.0 and kwargs["epsilon"] == 0.2 and kwargs["epsilon_high"] == 0.28
    assert kwargs["loss_type"] == "dapo" and kwargs["temperature"] == 1.0
    if "7b" in recipe.name:
        assert kwargs["num_generations"] == 8
        assert kwargs["max_completion_length"] in (3072, 4096)
        assert kwargs["use_vllm"] is True and kwargs["bf16"] is True
    if "coder-7b" in recipe.name:
        assert kwargs["max_completion_length"] == 4096


def test_recipe_set_covers_the_issue():
    names = {p.name for p in TRAIN_RECIPES}
    modes = {load_train_config(p).reward.mode for p in TRAIN_RECIPES}
    assert modes == {"posterior", "additive", "outcome"}
    assert {"tiny-cpu.yaml", "qwen2.5-math-7b-pgrpo.yaml"} <= names
    vllm_modes = {load_train_config(p).grpo.get("vllm_mode") for p in TRAIN_RECIPES}
    assert {"colocate", "server"} <= vllm_modes
    assert load_train_config(RECIPES / "qwen2.5-math-7b-pgrpo.yaml").task == "math"


@pytest.mark.parametrize("name,processes,machines", [("zero3-1node-8gpu", 8, 1), ("zero3-multinode", 32, 4)])
def test_accelerate_configs(name, processes, machines):
    data = yaml.safe_load((RECIPES / "accelerate" / f"{name}.yaml").read_text())
    assert data["distributed_type"] == "DEEPSPEED"
    assert data["deepspeed_config"]["zero_stage"] == 3
    assert data["num_processes"] == processes and data["num_machines"] == machines
    assert data["mixed_precision"] == "bf16"


def test_tiny_recipe_validates_with_paths(tmp_path):
    kwargs = validate_train_config(tiny(tmp_path))
    assert kwargs["use_cpu"] is True and kwargs["num_generations"] == 4
    assert set(GRPO_DEFAULTS) <= set(kwargs)


@pytest.mark.parametrize("overrides,key", [
    (["grpo.num_generationz=4"], "grpo.num_generationz: unknown key"),
    (["grpo.epsilon=high"], "grpo.epsilon: expected"),
    (["grpo.reward_weights=[1,1,1]"], "grpo.reward_weights: not allowed"),
    (["grpo.output_dir=/x"], "grpo.output_dir: not allowed"),
    (["grpo.num_generations=1"], "grpo.num_generations"),
    (["reward.mode=gated"], "reward.mode: must be one of ['additive', 'outcome', 'posterior']"),
    (["reward.build_tiny_rm=false"], "reward.rm_path: reward.mode='posterior' needs a reasoning reward model"),
    (["reward.build_tiny_rm=false", "reward.rm_path=/nope/rm"], "reward.rm_path: reward model '/nope/rm' does not"),
    (["data.source=/nope/train.jsonl"], "data.source: dataset file '/nope/train.jsonl' not found"),
    (["model.build_tiny=false"], "model: set exactly one of model.path and model.build_tiny"),
    (["model.build_tiny=false", "model.format_warmup_steps=0", "model.path=/nope/policy"],
     "model.path: '/nope/policy' does not exist"),
    (["sandbox.memory_mb=0"], "sandbox.memory_mb: must be > 0"),
    (["sandbox.wrokers=2"], "sandbox.wrokers: unknown key"),
    (["task=vision"], "task: must be one of"),
    (["resume=/nope/checkpoint-3"], "resume: checkpoint directory"),
    (["task=math"], "model.format_warmup_steps: the warm-up teaches the code answer format"),
    (["task=math", "model.format_warmup_steps=0", "data.format=lcb"],
     "data.format: math problems are read by"),
    (["task=math", "model.format_warmup_steps=0", "data.options={private_tests: true}"],
     "data.options: math problems are read by"),
])
def test_bad_config_names_the_key(tmp_path, no_model_loads, overrides, key):
    with pytest.raises(ConfigError) as info:
        validate_train_config(tiny(tmp_path, *overrides))
    assert key in str(info.value)


def test_unknown_and_mistyped_keys_fail_at_load(tmp_path):
    with pytest.raises(ConfigError, match="reward.modes: unknown key"):
        tiny(tmp_path, "reward.modes=outcome")
    with pytest.raises(ConfigError, match="reward.thinking_weight: expected a number"):
        tiny(tmp_path, "reward.thinking_weight=lots")


def test_outcome_mode_needs_no_rm(tmp_path):
    validate_train_config(tiny(tmp_path, "reward.mode=outcome", "reward.build_tiny_rm=false"))


def test_cli_reports_key_before_loading_models(tmp_path, no_model_loads, capsys):
    code = main(["train", "--config", str(TINY), f"output_dir={tmp_path}", f"data.source={TINY_DATA}",
                 "grpo.bogus_key=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "tiny-cpu.yaml" in err and "grpo.bogus_key: unknown key" in err
    assert not (tmp_path / "tiny-policy").exists()


def test_cli_check_mode(tmp_path, no_model_loads, capsys):
    assert main(["train", "--config", str(TINY), "--check", f"output_dir={tmp_path}",
                 f"data.source={TINY_DATA}"]) == 0
    assert "OK" in capsys.readouterr().out


def test_trl_cross_field_error_is_a_config_error(tmp_path, no_model_loads):
    from pgrpo.train.runner import run_training

    # 3 completions per step cannot be split into groups of 4: TRL's check, reported as grpo.
    config = tiny(tmp_path, "grpo.per_device_train_batch_size=3")
    with pytest.raises(ConfigError, match="^grpo: "):
        run_training(config)
    assert not (tmp_path / "tiny-policy").exists()


def test_peft_section(tmp_path):
    from pgrpo.train.config import lora_config

    config = tiny(tmp_path, "peft.r=4", "peft.lora_alpha=8", "peft.target_modules=[q_proj,v_proj]")
    validate_train_config(config)
    lora = lora_config(config)
    assert lora is not None and lora.r == 4 and lora.target_modules == {"q_proj", "v_proj"}
    assert lora_config(tiny(tmp_path)) is None
    with pytest.raises(ConfigError, match="peft.rank: unknown key"):
        validate_train_config(tiny(tmp_path, "peft.rank=4"))


def test_hub_ids_are_not_checked_as_paths(tmp_path):
    config = tiny(tmp_path, "model.build_tiny=false", "model.format_warmup_steps=0",
                  "model.path=Qwen/Qwen2.5-Coder-7B-Instruct")
    validate_train_config(config)  # offline: a hub id cannot be checked, so it is accepted


def test_a_default_the_grpo_config_lacks_is_kept_so_building_it_fails_loudly():
    """A paper setting in GRPO_DEFAULTS that a later TRL renames must not vanish from the sync trainer's
    kwargs."""
    import dataclasses

    from trl import GRPOConfig

    from pgrpo.train.grpo_fields import checked_grpo_kwargs

    kwargs = checked_grpo_kwargs({}, GRPOConfig, {**GRPO_DEFAULTS, "renamed_setting": 1})
    assert kwargs["renamed_setting"] == 1 and set(GRPO_DEFAULTS) <= set(kwargs)
    assert set(GRPO_DEFAULTS) <= {f.name for f in dataclasses.fields(GRPOConfig)}  # today's TRL has every one


def test_the_recipe_task_names_are_the_task_types():
    """`task:` is a Literal for its error message; the kinds it allows are exactly pgrpo.verify.TASK_TYPES."""
    import typing

    from pgrpo.train.config import TrainConfig
    from pgrpo.verify import TASK_TYPES

    assert set(typing.get_args(TrainConfig.model_fields["task"].annotation)) == set(TASK_TYPES)
