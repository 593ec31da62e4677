"""`trainer: async` recipes: the key itself, the `grpo` section mapped onto TRL's real AsyncGRPOConfig,
the async path's refusals (each naming its key, before any model loads), the `--check` report and the
dataset (the GRPOTrainer path's prompts, as chat messages)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pgrpo.cli import main
from pgrpo.config import ConfigError
from pgrpo.train.config import load_train_config, validate_train_config

pytest.importorskip("trl.experimental.async_grpo")

ROOT = Path(__file__).resolve().parents[2]
ASYNC = ROOT / "recipes" / "async-tiny.yaml"
TINY_DATA = str(ROOT / "recipes" / "data" / "tiny-humaneval.jsonl")


def recipe(tmp_path, *overrides):
    return load_train_config(ASYNC, [f"output_dir={tmp_path}", f"data.source={TINY_DATA}", *overrides])


def check(*overrides) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["train", "--config", str(ASYNC), "--check", *overrides])
    return code, err.getvalue()


def test_an_unknown_trainer_is_refused_naming_the_file_and_key():
    code, err = check("trainer=fast")
    assert code == 2
    assert f"{ASYNC}: trainer: must be one of ['trl', 'async'], got 'fast'" in err


def test_the_default_trainer_is_trl(tmp_path):
    config = load_train_config(ROOT / "recipes" / "tiny-cpu.yaml", [f"output_dir={tmp_path}"])
    assert config.trainer == "trl"


def test_grpo_keys_map_onto_async_grpo_config(tmp_path):
    from trl.experimental.async_grpo import AsyncGRPOConfig

    config = recipe(tmp_path, "grpo.max_staleness=2", "grpo.use_cpu=true")
    kwargs = validate_train_config(config, check_paths=False)
    # pgrpo's defaults that AsyncGRPOConfig has, the recipe's keys over them, the policy's dtype
    assert kwargs["epsilon_high"] == 0.28 and kwargs["num_generations"] == 4 and kwargs["max_staleness"] == 2
    assert kwargs["dtype"] == "float32"
    assert not {"beta", "loss_type", "scale_rewards"} & set(kwargs)  # not AsyncGRPOConfig fields
    args = AsyncGRPOConfig(output_dir=str(tmp_path / "out"), **kwargs)
    assert (args.vllm_server_base_url, args.epsilon_high, args.max_steps) == ("http://127.0.0.1:8000", 0.28, 2)


@pytest.mark.parametrize(("override", "message"), [
    ("grpo.beta=0.0", "grpo.beta: unknown key: not a trl AsyncGRPOConfig field"),  # a GRPOConfig key only
    ("grpo.vllm_mode=server", "grpo.vllm_mode: unknown key: not a trl AsyncGRPOConfig field"),
    ("grpo.max_staleness=soon", "grpo.max_staleness"),
    ("grpo.output_dir=x", "grpo.output_dir: not allowed here"),
    ("grpo.vllm_server_base_url=localhost:8000", "grpo.vllm_server_base_url: expected http(s)://HOST[:PORT]"),
    ("grpo.num_generations=1", "grpo.num_generations: GRPO needs >= 2"),
    ("data.think_prefilled=true", "data.think_prefilled: trainer: async sends chat messages"),
    ("model.attn_implementation=sdpa", "model.attn_implementation: trainer: async"),
    ("reward.mode=posterior", "reward.rm_path: reward.mode='posterior' needs a reasoning reward model"),
])
def test_async_recipe_errors_name_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_train_config(recipe(tmp_path, override), check_paths=False)


def test_the_server_url_is_required(tmp_path):
    config = recipe(tmp_path)
    del config.grpo["vllm_server_base_url"]
    with pytest.raises(ConfigError, match=r"grpo.vllm_server_base_url: required with trainer: async"):
        validate_train_config(config, check_paths=False)


@pytest.mark.parametrize(("overrides", "key"), [
    (["reward.mode=posterior", "reward.build_tiny_rm=true"], "reward.build_tiny_rm"),
    (["reward.mode=additive", "reward.rm_path=/some/rm"], "reward.rm_path"),
])
def test_a_local_reward_model_is_refused(tmp_path, overrides, key):
    with pytest.raises(ConfigError, match=rf"{key}: trainer: async scores rewards in TRL's CUDA-free rollout child"):
        validate_train_config(recipe(tmp_path, *overrides), check_paths=False)


def test_a_served_reward_model_passes_without_contact(tmp_path):
    config = recipe(tmp_path, "reward.mode=posterior", "reward.rm_url=http://127.0.0.1:9")
    assert validate_train_config(config, check_paths=False, contact=False)["num_generations"] == 4


def test_check_reports_the_async_plan(capsys):
    assert main(["train", "--config", str(ASYNC), "--check", "grpo.heartbeat_stale_after_s=100"]) == 0
    out = capsys.readouterr().out
    assert "generation: trl vllm-serve at http://127.0.0.1:8000" in out
    assert "one call per group of 4, each bounded by 50 s (grpo.heartbeat_stale_after_s 100 s)" in out
    assert "not yet run on a GPU" in out and out.strip().endswith(": OK")


def test_the_dataset_is_the_grpo_paths_prompts_as_messages(tmp_path, tiny_tokenizer):
    from pgrpo.engines.trl_async import async_dataset
    from pgrpo.train.tasks import load_examples

    config = recipe(tmp_path)
    data = async_dataset(config)
    examples = load_examples(config, tiny_tokenizer)
    assert data.column_names == ["prompt", "task_id"]
    assert data["task_id"] == [e.task_id for e in examples]
    rendered = [tiny_tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                for p in data["prompt"]]
    assert rendered == [e.prompt for e in examples]  # what the rollout child renders = GRPOTrainer's prompt


def test_a_chat_template_trl_cannot_parse_is_named(tiny_tokenizer):
    import copy

    import trl.chat_template_utils as templates

    from pgrpo.engines.trl_async import with_response_parser

    with pytest.raises(ConfigError, match="model.path: /the/policy: AsyncGRPOTrainer parses each completion"):
        with_response_parser(copy.deepcopy(tiny_tokenizer), "/the/policy")
    known = copy.deepcopy(tiny_tokenizer)
    known.chat_template = templates.qwen2_5_chat_template
    assert with_response_parser(known, "/the/policy").response_template is not None


def test_a_default_local_pool_gets_the_nodes_cpus_for_the_one_scorer(tmp_path, monkeypatch):
    from pgrpo.engines.trl_async import scorer_config
    from pgrpo.sandbox.resources import available_cpus

    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    config = recipe(tmp_path, "sandbox.workers=0")  # the default: this rank's share
    assert config.sandbox.workers == max(1, available_cpus() // 4)
    assert scorer_config(config).sandbox.workers == available_cpus()
    assert scorer_config(recipe(tmp_path, "sandbox.workers=3")).sandbox.workers == 3  # an explicit size stays


def test_pgrpo_train_names_a_policy_whose_chat_template_trl_cannot_parse(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--config", str(ASYNC), f"output_dir={out}", f"data.source={TINY_DATA}",
                 "sandbox.workers=1"])
    assert code == 2
    assert f"model.path: {out / 'tiny-policy'}: AsyncGRPOTrainer parses each completion" in capsys.readouterr().err
    assert (out / "train_config.yaml").is_file() and not (out / "final").exists()
