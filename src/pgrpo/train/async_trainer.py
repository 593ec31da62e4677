"""`trainer: async`: `pgrpo train` on TRL 1.16's experimental AsyncGRPOTrainer.

Owns the async path's recipe checks (`async_grpo_kwargs`, `validate_async`, `AsyncPlan` for
`pgrpo train --check`), its dataset (`async_dataset`), `ASYNC_REWARD_FACTORIES` (how its reward
functions are made from a recipe: registered by `pgrpo.engines.trl_async`, a layer above this one)
and `run_async_training` (what `pgrpo.train.runner.run_training` calls for `trainer: async`).

What differs from the GRPOTrainer path, each read from TRL's source (trl/experimental/async_grpo/):
- `grpo.*` keys are checked against AsyncGRPOConfig (an unknown key is an error naming it); of
  pgrpo's GRPO_DEFAULTS only the keys that class has apply. It has no `beta`, `loss_type` or
  `scale_rewards`: its loss has no KL term, is token-level over the step's tokens, and its
  advantages are normalised per group, i.e. the paper's choices that those defaults pin.
- Generation runs on a `trl vllm-serve` server the recipe names (`grpo.vllm_server_base_url`,
  required: AsyncGRPOConfig's localhost default is never assumed); weights go to it over NCCL.
- Rewards are scored in a spawned, CUDA-free child on rank 0, once per group: the reasoning RM must
  be served (`reward.rm_url`); a local `reward.rm_path` or `reward.build_tiny_rm` is refused. Each
  scoring call is bounded below `grpo.heartbeat_stale_after_s`, so a hung service surfaces as an
  error naming the items and services, not as a "child is hung" abort.
- Prompts are chat messages (the child applies the chat template itself), so `data.think_prefilled`
  is refused; `model.attn_implementation` is refused (the trainer uses its own tree attention).
- Metrics: one child scores every group, so TRL's `rewards/<component>` are global; pgrpo's own
  per-step reward stats and `samples.jsonl` are not written on this path (`grpo.log_completions`).
Not run on a GPU yet: `scripts/gpu-smoke.sh` has the stage (grpo-async) that would.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pgrpo.config import ConfigError
from pgrpo.registry import Registry
from pgrpo.rewards.components import get_mode
from pgrpo.train.config import GRPO_DEFAULTS, TrainConfig, checked_grpo_kwargs

if TYPE_CHECKING:
    from pgrpo.train.runner import TrainResult

# AsyncGRPOConfig fields pgrpo requires the recipe to set (no default is assumed for them).
REQUIRED_ASYNC_KEYS = {
    "vllm_server_base_url": "the `trl vllm-serve` server that generates (e.g. http://GPU-HOST:8000); start it on "
                            "the policy with VLLM_SERVER_DEV_MODE=1 and --weight-transfer-config '{\"backend\":\"nccl\"}'",
}
CALL_BOUND_SHARE = 0.5  # a reward call's bound, as a share of grpo.heartbeat_stale_after_s
MAX_CALL_BOUND_S = 600.0  # and never above this (pgrpo.engines.DEFAULT_CALL_TIMEOUT_S)

# (recipe, group size, per-call bound in s, policy tokenizer path) -> the reward functions AsyncGRPOTrainer gets.
AsyncRewardFactory = Callable[[TrainConfig, int, float, str], list[Any]]
ASYNC_REWARD_FACTORIES: Registry[AsyncRewardFactory] = Registry("async reward factory")
REWARD_FACTORY = "posterior"  # registered by pgrpo.engines.trl_async


def _async_grpo() -> Any:
    """trl.experimental.async_grpo, imported without its "experimental" warning (the recipe asked for it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*trl.experimental.*")
        import trl.experimental.async_grpo as module
    return module


def _async_config_class() -> type:
    return _async_grpo().AsyncGRPOConfig


def async_grpo_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The `grpo` section over the GRPO_DEFAULTS AsyncGRPOConfig has, keys and types checked against it."""
    cls = _async_config_class()
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    out = checked_grpo_kwargs(config, cls, {k: v for k, v in GRPO_DEFAULTS.items() if k in fields})
    for key, why in REQUIRED_ASYNC_KEYS.items():
        if out.get(key) is None:
            raise ConfigError(f"grpo.{key}: required with trainer: async: {why}")
    url = urlparse(str(out["vllm_server_base_url"]))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"grpo.vllm_server_base_url: expected http(s)://HOST[:PORT], got "
                          f"{out['vllm_server_base_url']!r}")
    if "dtype" not in config.grpo and config.model.dtype != "auto":
        out["dtype"] = config.model.dtype  # the policy's dtype, as on the GRPOTrainer path
    return out


def _default(name: str) -> Any:
    return next(f.default for f in dataclasses.fields(_async_config_class()) if f.name == name)


def call_bound_s(kwargs: dict[str, Any]) -> float:
    """One reward call's bound: well inside the trainer's patience with a silent rollout child."""
    stale = float(kwargs.get("heartbeat_stale_after_s") or _default("heartbeat_stale_after_s"))
    return min(MAX_CALL_BOUND_S, CALL_BOUND_SHARE * stale)


@dataclass(frozen=True)
class AsyncPlan:
    """What `pgrpo train --check` reports for `trainer: async`."""

    vllm_url: str
    group_size: int
    call_bound_s: float
    heartbeat_s: float
    rm: str | None

    def describe(self) -> str:
        rm = f"reasoning RM served at {self.rm}" if self.rm else "no reasoning RM (outcome mode)"
        return (f"trainer async (TRL AsyncGRPOTrainer, experimental; not yet run on a GPU by pgrpo):\n"
                f"  generation: trl vllm-serve at {self.vllm_url} (weights synced over NCCL)\n"
                f"  rewards: scored in TRL's CUDA-free rollout child, one call per group of {self.group_size}, "
                f"each bounded by {self.call_bound_s:g} s (grpo.heartbeat_stale_after_s {self.heartbeat_s:g} s); "
                f"{rm}")


def async_plan(config: TrainConfig, kwargs: dict[str, Any]) -> AsyncPlan:
    rm = config.reward.rm_url if get_mode(config.reward.mode).uses_thinking else None
    return AsyncPlan(str(kwargs["vllm_server_base_url"]), int(kwargs.get("num_generations") or 8),
                     call_bound_s(kwargs),
                     float(kwargs.get("heartbeat_stale_after_s") or _default("heartbeat_stale_after_s")),
                     rm if rm is None or isinstance(rm, str) else ", ".join(rm))


def validate_async(config: TrainConfig) -> dict[str, Any]:
    """The async path's own checks (after validate_train_config's common ones); the AsyncGRPOConfig kwargs."""
    reward = config.reward
    if get_mode(reward.mode).uses_thinking and reward.rm_url is None:
        key = "build_tiny_rm" if reward.build_tiny_rm else "rm_path"
        raise ConfigError(f"reward.{key}: trainer: async scores rewards in TRL's CUDA-free rollout child, where a "
                          f"local reward model would run on CPU: serve it (`pgrpo rm serve`) and set reward.rm_url "
                          f"(reward.mode={reward.mode})")
    if config.data.think_prefilled:
        raise ConfigError("data.think_prefilled: trainer: async sends chat messages and the rollout child applies the "
                          "chat template itself, so a prompt cannot end inside <think>; set it to false")
    if config.model.attn_implementation:
        raise ConfigError("model.attn_implementation: trainer: async loads the policy with TRL's own tree attention; "
                          "leave the key out")
    kwargs = async_grpo_kwargs(config)
    group = kwargs.get("num_generations")
    if group is not None and group < 2:
        raise ConfigError(f"grpo.num_generations: GRPO needs >= 2 completions per prompt, got {group}")
    return kwargs


def async_dataset(config: TrainConfig):
    """HF Dataset with "prompt" (chat messages: the async child renders them) and "task_id"; the recipe's
    problems in the same order and with the same checks as the GRPOTrainer path (`load_targets`)."""
    from datasets import Dataset

    from pgrpo.train.tasks import load_targets

    if config.task == "code":
        from pgrpo.data.prompts import build_messages

        def messages(task: Any) -> list[dict[str, str]]:
            return build_messages(task, config.data.prompt_style)
    else:
        from pgrpo.data.math import math_messages

        def messages(task: Any) -> list[dict[str, str]]:
            return math_messages(task, config.data.prompt_style)
    targets = list(load_targets(config).values())
    return Dataset.from_dict({"prompt": [messages(t.task) for t in targets], "task_id": [t.task_id for t in targets]})


def scorer_config(config: TrainConfig) -> TrainConfig:
    """The recipe as TRL's one rollout child scores it: a local sandbox pool sized by default (this rank's
    share of the node's CPUs) gets the node's CPUs, since one process scores for every rank."""
    from pgrpo.sandbox.resources import available_cpus, default_workers, local_ranks

    sandbox = config.sandbox
    if sandbox.urls or local_ranks() == 1 or sandbox.workers != default_workers():
        return config
    return dataclasses.replace(config, sandbox=dataclasses.replace(sandbox, workers=available_cpus()))


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

    module = _async_grpo()

    try:
        args = module.AsyncGRPOConfig(output_dir=str(out), **kwargs)
    except (ValueError, TypeError) as exc:  # TRL's cross-field checks
        raise ConfigError(f"grpo: {exc}") from exc
    return module.AsyncGRPOTrainer(model=policy_path, reward_funcs=async_reward_funcs(config, kwargs, policy_path),
                            args=args, train_dataset=async_dataset(config), processing_class=tokenizer,
                            callbacks=callbacks, peft_config=lora_config(config), **injected)


def run_async_training(config: TrainConfig, kwargs: dict[str, Any]) -> TrainResult:
    """`pgrpo train` for `trainer: async` (kwargs: validate_async's): models, trainer, train, save."""
    import yaml

    from pgrpo.config import to_dict
    from pgrpo.hf_loading import ensure_pad_token
    from pgrpo.train.callbacks import MetricsJsonlCallback, trim_metrics
    from pgrpo.train.distributed import first_per_node_then_rest
    from pgrpo.train.preflight import agreed_service_checks
    from pgrpo.train.runner import TrainResult, _checkpoint_step, _resume_checkpoint, prepare_models

    if config.torch_threads is not None:
        import torch

        torch.set_num_threads(config.torch_threads)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    main_process = os.environ.get("RANK", "0") == "0"
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
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(final))
    samples = out / config.logging.samples_file  # not written on this path (module docstring)
    return TrainResult(out, int(trainer.state.global_step), final, metrics_path, samples, checkpoint)
