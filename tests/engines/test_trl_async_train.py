"""`pgrpo train` with `trainer: async` up to TRL's own AsyncGRPOTrainer construction, on CPU.

TRL's real AsyncGRPOTrainer is built from a recipe (`build_async_trainer`); three of its pieces cannot
exist here and are replaced by recorders: the rollout worker and the NCCL weight-transfer client (both
need vllm) and the GPU's peak-FLOPs query (CUDA only). What the trainer hands its rollout worker is then
checked the way the worker uses it: pickled (`AsyncRolloutWorker.start`'s check), sent to a spawned child,
and scored there by TRL's `_AsyncRolloutLoop._score_group` on completions parsed as the child parses them
(`parse_response`: Qwen-family templates move <think> into reasoning_content) - equal to `pgrpo train`'s
RewardEvaluator item by item, one computation per group. Generation and weight sync are not exercised:
scripts/gpu-smoke.sh's grpo-async stage runs them on GPUs."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from typing import Any

import pytest

from engines.engine_cases import batch, receive, reference, trl_async_score_in_child, write_recipe
from pgrpo.config import ConfigError

pytest.importorskip("trl.experimental.async_grpo.async_rollout_worker")


class _Recorder:
    """Stands in for a vllm-backed TRL class: records the kwargs the trainer builds it with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.rollout_buffer = None


@pytest.fixture
def trainer_parts(monkeypatch):
    import trl.experimental.async_grpo.async_grpo_trainer as trainer_module

    monkeypatch.setattr(trainer_module, "AsyncRolloutWorker", _Recorder)
    monkeypatch.setattr(trainer_module, "WeightTransferClient", _Recorder)
    monkeypatch.setattr(trainer_module, "get_peak_flops_per_device", lambda accelerator, dtype: 1.0e12)


def _parsed(tokenizer: Any, prompt: list[dict[str, str]], texts: list[str]) -> tuple[list[Any], list[list[int]]]:
    """(completions as TRL's rollout child parses them, their token ids ending in the end-of-turn token)."""
    from trl.chat_template_utils import parse_response

    prefix = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=False)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [end] for t in texts]
    return [[parse_response(tokenizer, i, prefix=prefix)] for i in ids], ids


def test_trainer_built_from_the_recipe_scores_like_pgrpo_train(tmp_path, rm_service, tiny_policy_path,
                                                               trainer_parts):
    import trl.chat_template_utils as templates
    from transformers import AutoTokenizer

    from pgrpo.engines.trl_async import build_async_trainer, with_response_parser
    from pgrpo.train.config import load_train_config, validate_train_config

    recipe = write_recipe(tmp_path / "recipe.yaml", "posterior", rm_service.url)
    config = load_train_config(recipe, [
        "trainer=async", f"model.path={tiny_policy_path}", "model.dtype=float32",
        "grpo.vllm_server_base_url=http://127.0.0.1:9", "grpo.use_cpu=true", "grpo.bf16=false",
        "grpo.num_generations=3", "grpo.per_device_train_batch_size=3", "grpo.max_steps=2", "grpo.report_to=[]",
        "grpo.heartbeat_stale_after_s=120"])
    kwargs = validate_train_config(config, contact=False)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_path, padding_side="left")
    tokenizer.chat_template = templates.qwen2_5_chat_template  # a template TRL parses responses of
    tokenizer = with_response_parser(tokenizer, tiny_policy_path)
    trainer = build_async_trainer(config, kwargs, tmp_path / "out", tiny_policy_path, tokenizer, [])

    assert type(trainer).__name__ == "AsyncGRPOTrainer"
    assert (trainer.args.vllm_server_base_url, trainer.args.epsilon_high, trainer.args.num_generations) == \
        ("http://127.0.0.1:9", 0.28, 3)
    loop_kwargs = trainer.rollout_worker.kwargs  # what the trainer gives its rollout worker
    assert loop_kwargs["vllm_server_url"] == "http://127.0.0.1:9" and loop_kwargs["num_generations"] == 3
    funcs = loop_kwargs["reward_funcs"]
    assert [f.__name__ for f in funcs] == ["format", "outcome", "thinking"]
    assert funcs[0].reward.timeout_s == 60.0  # half of grpo.heartbeat_stale_after_s
    assert set(loop_kwargs["dataset"].column_names) == {"prompt", "task_id"}
    pickle.dumps(loop_kwargs["reward_funcs"])  # AsyncRolloutWorker.start's own check (its other kwargs: vllm's)

    ids, texts = batch()
    prompt = loop_kwargs["dataset"][0]["prompt"]
    completions, completion_ids = _parsed(tokenizer, prompt, texts)
    assert "reasoning_content" in completions[0][0]  # <think> left "content": the text must come from the ids
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=trl_async_score_in_child,
                       args=({"reward_funcs": funcs}, [prompt] * len(ids), completions, ids, child, completion_ids))
    proc.start()
    try:
        metrics, evaluations = receive(proc, parent, 300)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    want = reference(recipe, ids, texts)
    assert [m["reward"] for m in metrics] == pytest.approx([w.total for w in want], abs=1e-5)
    for name in ("format", "outcome", "thinking"):
        assert [m[f"rewards/{name}"] for m in metrics] == pytest.approx([getattr(w, name) for w in want], abs=1e-5)
    assert max(w.format for w in want) == 1.0  # the formatted answers did earn the format reward
    assert evaluations == 1


def test_without_a_tokenizer_the_reasoning_goes_back_in_its_think_block(recipe_for, tiny_policy_path):
    import trl.chat_template_utils as templates
    from transformers import AutoTokenizer

    from pgrpo.engines import PosteriorReward
    from pgrpo.engines.trl_async import make_async_reward_funcs

    recipe = recipe_for("posterior")
    tokenizer: Any = copy.deepcopy(AutoTokenizer.from_pretrained(tiny_policy_path))
    tokenizer.chat_template = templates.qwen2_5_chat_template
    tokenizer = templates.add_response_schema(tokenizer)
    ids, texts = batch()
    completions, _ = _parsed(tokenizer, [{"role": "user", "content": "solve"}], texts)
    funcs = make_async_reward_funcs(PosteriorReward(recipe, require_served_rm=True))
    got = [sum(values) for values in zip(*(f(completions=completions, task_id=ids) for f in funcs))]
    assert got == pytest.approx([w.total for w in reference(recipe, ids, texts)], abs=1e-5)


def test_run_async_training_trains_and_saves_with_trls_trainer(tmp_path, tiny_policy_path, trainer_parts, monkeypatch):
    import shutil

    import trl.chat_template_utils as templates
    from transformers import AutoTokenizer
    from trl.experimental.async_grpo import AsyncGRPOTrainer

    from pgrpo.engines.trl_async import run_async_training
    from pgrpo.train.config import load_train_config
    from pgrpo.train.runner import run_training

    policy = shutil.copytree(tiny_policy_path, tmp_path / "policy")
    tokenizer = AutoTokenizer.from_pretrained(policy)
    tokenizer.chat_template = templates.qwen2_5_chat_template
    tokenizer.save_pretrained(policy)
    trained: list[Any] = []
    monkeypatch.setattr(AsyncGRPOTrainer, "train", lambda self, resume_from_checkpoint=None: trained.append(
        (self, resume_from_checkpoint)))
    recipe = write_recipe(tmp_path / "recipe.yaml", "outcome", None)
    config = load_train_config(recipe, [
        "trainer=async", f"model.path={policy}", "grpo.vllm_server_base_url=http://127.0.0.1:9", "grpo.use_cpu=true",
        "grpo.bf16=false", "grpo.num_generations=3", "grpo.per_device_train_batch_size=3", "grpo.report_to=[]"])
    with pytest.raises(ConfigError, match="trainer: async runs on TRL's AsyncGRPOTrainer"):
        run_training(config)  # the GRPOTrainer path refuses it
    result = run_async_training(config)
    (trainer, resume), = trained
    assert resume is None and trainer.args.output_dir == str(tmp_path / "out")
    assert trainer.processing_class.response_template is not None  # parsed as the rollout child will
    assert (result.final_model_dir / "config.json").is_file() and (tmp_path / "out" / "train_config.yaml").is_file()
