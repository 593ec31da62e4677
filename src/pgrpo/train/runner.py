"""`pgrpo train` on TRL's GRPOTrainer: `run_training(config)` builds everything from a validated recipe.

Rank 0 picks the resume checkpoint (broadcast) and alone writes files; each node's first rank builds
the tiny models; a step failing on one rank stops every rank (`pgrpo.train.distributed`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pgrpo.config import ConfigError, to_dict
from pgrpo.hf_loading import ensure_pad_token, torch_dtype
from pgrpo.rewards.batch import RewardEvaluator, ThinkingFn, TruncationCount, get_mode
from pgrpo.train.config import TrainConfig, lora_config, validate_train_config
from pgrpo.train.distributed import agreed, first_per_node_then_rest, gather_json, local_rank, rank
from pgrpo.train.tasks import format_warmup, load_examples, make_verifier, to_dataset
from pgrpo.verify import BatchVerify, Task, Verifier, task_type


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    global_step: int
    final_model_dir: Path
    metrics_path: Path
    samples_path: Path
    resumed_from: str | None


def say(message: str) -> None:
    print(f"pgrpo train: {message}", file=sys.stderr, flush=True)


def _build_tiny(out_dir: Path, kind: str, build: Callable[..., Path], done: str, **kwargs: Any) -> Path:
    if (out_dir / done).is_file():  # already built by an earlier (resumed) run; `done` is written last
        say(f"reusing the tiny {kind} in {out_dir}")
        return out_dir
    say(f"building a tiny randomly initialised Qwen2 {kind} in {out_dir}")
    return build(out_dir, **kwargs)


def prepare_models(config: TrainConfig, out: Path, seed: int = 42) -> tuple[str, str | None]:
    """(policy path, RM path or None), building (and warming up) the tiny ones the recipe asks for."""
    from transformers import AutoTokenizer

    from pgrpo.tiny import BUILT_MARKER, build_tiny_model

    policy = config.model.path
    if config.model.build_tiny:
        policy = str(_build_tiny(out / "tiny-policy", "causal-lm", build_tiny_model, BUILT_MARKER,
                                 **config.model.tiny))
        steps = config.model.format_warmup_steps
        if steps:
            examples = load_examples(config, ensure_pad_token(AutoTokenizer.from_pretrained(policy)))
            if format_warmup(policy, examples, steps, seed=seed):
                say(f"format warm-up: {steps} SFT steps on formatted canonical answers")
    rm_path = None
    if get_mode(config.reward.mode).uses_thinking:
        rm_path = config.reward.rm_path
        if config.reward.build_tiny_rm:
            from pgrpo.rm.manifest import MANIFEST_FILE
            from pgrpo.rm.scoring import build_tiny_rm

            tokenizer = AutoTokenizer.from_pretrained(policy)
            rm_path = str(_build_tiny(out / "tiny-rm-UNTRAINED", "reward model", build_tiny_rm, MANIFEST_FILE,
                                      tokenizer=tokenizer))
            say(f"WARNING: using an UNTRAINED tiny test reward model ({rm_path}): thinking rewards are "
                 "noise, for plumbing tests only")
    return str(policy), rm_path


def recipe_thinking_fn(config: TrainConfig, rm_path: str | None) -> tuple[ThinkingFn | None, TruncationCount | None]:
    """(R_t: the scorer's `score`, the RM's running truncation count) -- (None, None) without an RM.
    The RM is served (`reward.rm_url`, pgrpo.rm.client) or loaded here, whole, outside ZeRO-3; what it
    reads (include_code) and its default max_length come from its manifest."""
    reward = config.reward
    if reward.rm_url is not None and get_mode(reward.mode).uses_thinking:
        from pgrpo.rm.client import RMClient
        from pgrpo.train.config import rm_backend, rm_urls

        client = RMClient(rm_urls(reward), items_per_request=reward.rm_batch_size, timeout_s=reward.rm_timeout_s,
                          retries=reward.rm_retries, backend=rm_backend(reward))
        _ = client.manifest  # an unreachable service fails here, before training starts
        return client.score, lambda: client.truncated
    if rm_path is None:
        return None, None
    import torch

    from pgrpo.rm.scoring import RewardScorer

    device = reward.rm_device
    if device is None and torch.cuda.is_available():
        device = f"cuda:{local_rank()}"  # each rank scores on its own GPU
    scorer = RewardScorer(rm_path, batch_size=reward.rm_batch_size, max_length=reward.rm_max_length,
                          device=device or "cpu")
    return scorer.score, lambda: scorer.truncated


def reward_evaluator(config: TrainConfig, targets: Mapping[str, Task], verify_fn: BatchVerify,
                     rm_path: str | None, group_size: int) -> RewardEvaluator:
    """The recipe's reward over `targets` (the one construction `pgrpo train` and PosteriorReward share)."""
    thinking_fn, rm_truncated = recipe_thinking_fn(config, rm_path)
    return RewardEvaluator(targets, verify_fn, thinking_fn, mode=config.reward.mode,
                           weight=config.reward.thinking_weight, group_size=group_size, rm_truncated=rm_truncated)


def _resume_checkpoint(config: TrainConfig, out: Path, save_only_model: bool) -> str | None:
    """The checkpoint to resume from, chosen by rank 0 and broadcast (a rank may list a checkpoint
    being written): `auto` takes the newest complete one, saying which it skipped; a named one must be
    complete, else a ConfigError on every rank."""
    from pgrpo.train.checkpoints import checkpoint_problem, newest_complete

    choice: str | None = None
    error: str | None = None
    if rank() == 0:
        if config.resume == "auto":
            found = newest_complete(out, save_only_model=save_only_model)
            for skipped in found.skipped:
                say(f"skipping incomplete checkpoint {skipped.path}: {skipped.reason}")
            choice = None if found.checkpoint is None else str(found.checkpoint)
            if found.skipped and choice is None:
                say("no complete checkpoint: training starts at step 0")
        elif config.resume != "never":
            problem = checkpoint_problem(Path(config.resume), save_only_model=save_only_model)
            if problem is None:
                choice = config.resume
            else:
                error = f"resume: {config.resume} is not a complete checkpoint: {problem}"
    choice, error = gather_json([choice, error])[0]
    if error is not None:
        raise ConfigError(error)
    return choice


def _checkpoint_step(checkpoint: str) -> int:
    state = Path(checkpoint) / "trainer_state.json"
    if state.is_file():
        return int(json.loads(state.read_text(encoding="utf-8")).get("global_step", 0))
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def agreed_service_checks(config: TrainConfig) -> None:
    """Contact the recipe's services (`reward.rm_url`'s manifest, every `sandbox.url`'s /health) from
    this rank; every rank raises if any rank failed (a collective)."""
    def check() -> None:
        validate_train_config(config, contact=True)
        if task_type(config.task).sandboxed and config.sandbox.urls:
            from pgrpo.sandbox.remote import RemoteSandbox

            with RemoteSandbox(config.sandbox.urls, config.sandbox) as client:
                for url in config.sandbox.urls:
                    client.health(url)

    agreed("checking the services the recipe names", check)


def agreed_verifier(config: TrainConfig) -> Verifier:
    """This rank's started verifier (a jail can fail on one node only); every rank raises if any
    rank could not start its own (a collective)."""
    started: list[Verifier] = []

    def start() -> Verifier:  # an error (e.g. IsolationError naming the cause) goes to the other ranks
        started.append(make_verifier(config))
        return started[0]

    try:
        return agreed("starting the sandbox", start)
    except BaseException:  # another rank failed: this rank's started verifier stops too
        for verifier in started:
            verifier.close()
        raise


def output_dir(config: TrainConfig) -> Path:
    """The run's output dir, with the resolved recipe (rank 0); sets torch's thread count."""
    if config.torch_threads is not None:
        import torch

        torch.set_num_threads(config.torch_threads)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if rank() == 0:  # under accelerate/torchrun only rank 0 writes files
        (out / "train_config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")
    return out


def start_run(config: TrainConfig, out: Path, save_only_model: bool) -> str | None:
    """After every rank checked the services: the resume checkpoint; rank 0 trims the logs to it."""
    from pgrpo.train.trl_hooks import trim_log

    agreed_service_checks(config)  # every rank is up: a service one rank cannot reach stops them all
    checkpoint = _resume_checkpoint(config, out, save_only_model)
    for path in (out / config.logging.metrics_file, out / config.logging.samples_file):
        if rank() == 0 and checkpoint is not None:
            trim_log(path, _checkpoint_step(checkpoint))
        elif rank() == 0:
            path.unlink(missing_ok=True)  # a fresh run starts fresh logs
    if checkpoint is not None:
        say(f"resuming from {checkpoint}")
    return checkpoint


def run_training(config: TrainConfig) -> TrainResult:
    """Train with GRPOTrainer as the recipe says."""
    # every config error surfaces before any model loads; services: checked below, by every rank at once
    grpo_kwargs = validate_train_config(config, contact=False)
    if config.trainer == "async":
        raise ConfigError("trainer: async runs on TRL's AsyncGRPOTrainer: call "
                          "pgrpo.engines.trl_async.run_async_training (as `pgrpo train` does), not run_training")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from pgrpo.train.trl_hooks import MetricsJsonlCallback, SamplesCallback, make_reward_funcs

    out = output_dir(config)
    try:
        grpo_args = GRPOConfig(output_dir=str(out), **grpo_kwargs)
    except (ValueError, TypeError) as exc:  # TRL's cross-field checks (batch sizes vs num_generations...)
        raise ConfigError(f"grpo: {exc}") from exc
    checkpoint = start_run(config, out, grpo_args.save_only_model)  # GRPOConfig set up the process group

    # A step below failing on one rank only (a file missing on one node, a GPU out of memory) stops every
    # rank, naming it; each node's first rank builds (and warms up) the tiny models before the others.
    def prepare() -> tuple[str, str | None, Any, list[Any]]:
        policy, rm = prepare_models(config, out, grpo_args.seed)
        tok = ensure_pad_token(AutoTokenizer.from_pretrained(policy))
        return policy, rm, tok, load_examples(config, tok)

    policy_path, rm_path, tokenizer, examples = first_per_node_then_rest("preparing the models and the data",
                                                                        prepare)
    from pgrpo.train.tasks import check_prompts_fit  # every rank: the same prompts, the same verdict

    fit = check_prompts_fit(config, grpo_kwargs, tokenizer, policy_path, [(e.task_id, e.prompt) for e in examples])
    say(f"{len(examples)} {config.task} problems from {config.data.source}, every prompt within "
         f"{fit.describe()}; reward mode {config.reward.mode}")

    with agreed_verifier(config) as verifier:  # a rank whose jail cannot start stops them all
        # Agreed before the policy loads: under ZeRO-3 that load is a collective a failed rank would never
        # join (a rank failing inside ZeRO-3's or vLLM's own collectives still leaves the others waiting).
        evaluator = agreed("loading the reward model", lambda: reward_evaluator(
            config, {e.task_id: e.task for e in examples}, verifier, rm_path, grpo_args.num_generations or 1))

        def build_trainer() -> Any:
            model_kwargs: dict[str, Any] = {"dtype": torch_dtype(config.model.dtype)}
            if config.model.attn_implementation:
                model_kwargs["attn_implementation"] = config.model.attn_implementation
            model = AutoModelForCausalLM.from_pretrained(policy_path, **model_kwargs)
            # TRL types reward functions as returning list[float | None] (list is invariant): typed loosely
            reward_funcs: list[Any] = make_reward_funcs(evaluator, gather_json)
            return GRPOTrainer(
                model=model, reward_funcs=reward_funcs, args=grpo_args,
                train_dataset=to_dataset(examples), processing_class=tokenizer, peft_config=lora_config(config),
                callbacks=[MetricsJsonlCallback(out / config.logging.metrics_file),
                           SamplesCallback(evaluator, out / config.logging.samples_file,
                                           config.logging.sample_every, config.logging.num_samples,
                                           gather=gather_json)],
            )

        return finish(agreed("loading the policy and the trainer", build_trainer), tokenizer, config, out,
                      checkpoint)


def finish(trainer: Any, tokenizer: Any, config: TrainConfig, out: Path,
           checkpoint: str | None) -> TrainResult:
    """Train (resuming from `checkpoint`), then save the final model and tokenizer."""
    trainer.train(resume_from_checkpoint=checkpoint)
    final = out / "final"
    trainer.save_model(str(final))  # gathers ZeRO-3 shards; writes on the main process
    if rank() == 0:
        tokenizer.save_pretrained(str(final))
    metrics_path = out / config.logging.metrics_file
    say(f"done: {trainer.state.global_step} steps; model in {final}; metrics in {metrics_path}")
    return TrainResult(out, int(trainer.state.global_step), final, metrics_path,
                       out / config.logging.samples_file, checkpoint)
