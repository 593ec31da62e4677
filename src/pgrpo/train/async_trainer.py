"""`trainer: async`: `pgrpo train` on TRL 1.16's experimental AsyncGRPOTrainer.

Owns its dataset (`async_dataset`: the GRPOTrainer path's prompts as chat messages),
`ASYNC_REWARD_FACTORIES` (how its reward functions are made from a recipe: registered by
`pgrpo.engines.trl_async`, a layer above this one), `scorer_config`, `with_response_parser`,
`build_async_trainer` and `run_async_training` (what `pgrpo train` runs for `trainer: async`; the
recipe's checks are `pgrpo.train.async_config`'s, whose docstring lists how this path differs from
the GRPOTrainer one). Not run on a GPU yet: `scripts/gpu-smoke.sh` has the stage (grpo-async) that would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.config import ConfigError
from pgrpo.registry import Registry
from pgrpo.train.async_config import async_grpo, call_bound_s
from pgrpo.train.config import TrainConfig

if TYPE_CHECKING:
    from datasets import Dataset

    from pgrpo.train.runner import TrainResult

# (recipe, group size, per-call bound in s, policy tokenizer path) -> the reward functions AsyncGRPOTrainer gets.
AsyncRewardFactory = Callable[[TrainConfig, int, float, str], list[Any]]
ASYNC_REWARD_FACTORIES: Registry[AsyncRewardFactory] = Registry("async reward factory")
REWARD_FACTORY = "posterior"  # registered by pgrpo.engines.trl_async


def async_dataset(config: TrainConfig) -> Dataset:
    """HF Dataset with "prompt" (chat messages: the async child renders them) and "task_id"; the recipe's
    problems in the same order and with the same checks as the GRPOTrainer path (`load_targets`)."""
    from datasets import Dataset

    from pgrpo.train.tasks import load_targets
    from pgrpo.verify import task_type

    kind = task_type(config.task)
    targets = list(load_targets(config).values())
    return Dataset.from_dict({"prompt": [kind.messages(t, config.data.prompt_style) for t in targets],
                              "task_id": [t.task_id for t in targets]})


def scorer_config(config: TrainConfig) -> TrainConfig:
    """The recipe as TRL's one rollout child scores it: a local sandbox pool sized by default (this rank's
    share of the node's CPUs) gets the node's CPUs, since one process scores for every rank."""
    from pgrpo.sandbox.resources import available_cpus, default_workers, local_ranks

    sandbox = config.sandbox
    if sandbox.urls or local_ranks() == 1 or sandbox.workers != default_workers():
        return config
    return config.model_copy(update={"sandbox": sandbox.model_copy(update={"workers": available_cpus()})})


def async_reward_funcs(config: TrainConfig, kwargs: dict[str, Any], tokenizer_path: str) -> list[Any]:
    """The reward functions AsyncGRPOTrainer gets (picklable; `pgrpo.engines.trl_async`)."""
    config = scorer_config(config)
    try:
        factory = ASYNC_REWARD_FACTORIES.get(REWARD_FACTORY)
    except KeyError:
        raise ConfigError("trainer: async: its reward functions come from pgrpo.engines (the `pgrpo` CLI imports "
                          "it; a script calling run_training must `import pgrpo.engines` first)") from None
    return factory(config, int(kwargs.get("num_generations") or 8), call_bound_s(kwargs), tokenizer_path)


def with_response_parser(tokenizer: Any, where: str) -> Any:
    """`tokenizer` with the response template TRL's rollout child parses completions with (TRL's
    add_response_schema, which the child would call itself); ConfigError naming model.path when TRL knows
    none for its chat template, before any model loads (the child would fail after the trainer started)."""
    if getattr(tokenizer, "response_template", None) is not None or getattr(tokenizer, "response_schema", None):
        return tokenizer
    from trl.chat_template_utils import add_response_schema

    try:
        return add_response_schema(tokenizer)
    except ValueError:
        raise ConfigError(f"model.path: {where}: AsyncGRPOTrainer parses each completion with the tokenizer's "
                          "response template, and TRL has none for this chat template (it knows Qwen2.5, Qwen3, "
                          "Llama 3.x and a few others): use such a policy, or save the tokenizer with a "
                          "response_template") from None


def build_async_trainer(config: TrainConfig, kwargs: dict[str, Any], out: Path, policy_path: str, tokenizer: Any,
                        callbacks: list[Any], **injected: Any) -> Any:
    """AsyncGRPOTrainer as the recipe says. `injected`: its `rollout_worker` / `weight_transfer` (tests)."""
    from pgrpo.train.config import lora_config

    module = async_grpo()

    try:
        args = module.AsyncGRPOConfig(output_dir=str(out), **kwargs)
    except (ValueError, TypeError) as exc:  # TRL's cross-field checks
        raise ConfigError(f"grpo: {exc}") from exc
    return module.AsyncGRPOTrainer(model=policy_path, reward_funcs=async_reward_funcs(config, kwargs, policy_path),
                            args=args, train_dataset=async_dataset(config), processing_class=tokenizer,
                            callbacks=callbacks, peft_config=lora_config(config), **injected)


def run_async_training(config: TrainConfig) -> TrainResult:
    """`pgrpo train` for `trainer: async`: validate (before any model loads), models, trainer, train, save."""
    import yaml

    from pgrpo.config import to_dict
    from pgrpo.hf_loading import ensure_pad_token
    from pgrpo.train.config import validate_train_config
    from pgrpo.train.distributed import first_per_node_then_rest, rank
    from pgrpo.train.preflight import agreed_service_checks
    from pgrpo.train.runner import TrainResult, _checkpoint_step, _resume_checkpoint, prepare_models
    from pgrpo.train.trl_hooks import MetricsJsonlCallback, trim_metrics

    if config.trainer != "async":
        raise ConfigError(f"trainer: {config.trainer!r}: run_async_training is for trainer: async")
    kwargs = validate_train_config(config, contact=False)  # services: checked below, by every rank at once
    if config.torch_threads is not None:
        import torch

        torch.set_num_threads(config.torch_threads)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    main_process = rank() == 0  # under accelerate/torchrun only rank 0 writes files
    if main_process:
        (out / "train_config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")
    metrics_path = out / config.logging.metrics_file
    agreed_service_checks(config)  # the served RM's manifest, the sandbox services: before any model loads
    checkpoint = _resume_checkpoint(config, out, bool(kwargs.get("save_only_model", False)))
    if main_process:
        if checkpoint is not None:
            trim_metrics(metrics_path, _checkpoint_step(checkpoint))
        else:
            metrics_path.unlink(missing_ok=True)

    def prepare() -> tuple[str, Any]:
        from transformers import AutoTokenizer

        policy, _ = prepare_models(config, out)
        if config.model.build_tiny and config.model.format_warmup_steps:
            from pgrpo.train.tasks import load_examples
            from pgrpo.train.warmup import format_warmup

            tok = ensure_pad_token(AutoTokenizer.from_pretrained(policy))
            format_warmup(policy, load_examples(config, tok), config.model.format_warmup_steps,
                          seed=int(kwargs.get("seed", 42)))
        tok = ensure_pad_token(AutoTokenizer.from_pretrained(policy, padding_side="left"))
        return policy, with_response_parser(tok, policy)

    policy_path, tokenizer = first_per_node_then_rest("preparing the models", prepare)
    print(f"pgrpo train: trainer async, generation on {kwargs['vllm_server_base_url']}, reward mode "
          f"{config.reward.mode}", file=sys.stderr, flush=True)
    trainer = build_async_trainer(config, kwargs, out, policy_path, tokenizer, [MetricsJsonlCallback(metrics_path)])
    trainer.train(resume_from_checkpoint=checkpoint)
    final = out / "final"
    trainer.save_model(str(final))
    if main_process:
        tokenizer.save_pretrained(str(final))
    samples = out / config.logging.samples_file  # not written on this path (module docstring)
    return TrainResult(out, int(trainer.state.global_step), final, metrics_path, samples, checkpoint)
