"""P-GRPO's reward functions for TRL's experimental AsyncGRPOTrainer (TRL 1.16).

Picklable "format" / "outcome" / "thinking" callables over ONE `PosteriorReward`, called in a
CUDA-free child (so the RM must be served). With the policy's tokenizer they score the decoded
completion ids (the text GRPOTrainer gives); else the message text with reasoning put back in <think>.
Also `pgrpo train`'s `trainer: async` path (`run_async_training`; its checks: `pgrpo.train.grpo_fields`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.config import ConfigError
from pgrpo.engines import PosteriorReward
from pgrpo.rewards.batch import COMPONENTS, completion_text
from pgrpo.train.config import TrainConfig, lora_config
from pgrpo.train.grpo_fields import async_grpo, call_bound_s

if TYPE_CHECKING:
    from datasets import Dataset

    from pgrpo.train.runner import TrainResult


@lru_cache(maxsize=4)
def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def message_text(completion: Any) -> str:
    """A completion's text; an assistant message's "reasoning_content" goes back in its <think> block."""
    if isinstance(completion, list):
        parts = []
        for m in completion:
            if isinstance(m, dict) and m.get("reasoning_content"):
                parts.append(f"<think>\n{m['reasoning_content']}\n</think>\n")
            parts.append(completion_text([m]))
        return "".join(parts)
    return completion_text(completion)


class AsyncComponentReward:
    """One reward component as an AsyncGRPOTrainer reward function: `f(prompts, completions, task_id, ...)`."""

    def __init__(self, reward: PosteriorReward, component: str, tokenizer: str | None = None) -> None:
        self.reward = reward
        self.component = component
        self.tokenizer = tokenizer  # the policy's (a path): completions are its decoded ids
        self.__name__ = component  # TRL names the logged metric after this (get_callable_name)

    def texts(self, completions: Sequence[Any], completion_ids: Sequence[Sequence[int]] | None) -> list[str]:
        if self.tokenizer is not None and completion_ids is not None:
            tok = _tokenizer(self.tokenizer)
            return [tok.decode(list(ids), skip_special_tokens=True) for ids in completion_ids]
        return [message_text(c) for c in completions]

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 task_id: Sequence[str] | None = None, completion_ids: Sequence[Sequence[int]] | None = None,
                 **_: Any) -> list[float]:
        if task_id is None:
            raise ValueError("reward function needs the dataset's 'task_id' column")
        rewards = self.reward.score(list(task_id), self.texts(completions, completion_ids))
        return [float(getattr(r, self.component)) for r in rewards]

    def __repr__(self) -> str:
        return f"AsyncComponentReward({self.component!r}, {self.reward!r})"


def make_async_reward_funcs(reward: PosteriorReward, tokenizer: str | None = None) -> list[AsyncComponentReward]:
    """[format, outcome, thinking] over one PosteriorReward (pass them to AsyncGRPOTrainer together);
    `tokenizer`: the policy's, whose decoded completion ids are scored (module docstring)."""
    if reward.config.reward.rm_url is None and reward.mode != "outcome":
        raise ConfigError(f"reward.rm_url: AsyncGRPOTrainer scores in a CUDA-free child process: serve the RM "
                          f"(`pgrpo rm serve`) for reward.mode={reward.mode}")
    return [AsyncComponentReward(reward, name, tokenizer) for name in COMPONENTS]


def async_dataset(config: TrainConfig) -> Dataset:
    """"prompt" (chat messages: the async child renders them) and "task_id" of the recipe's problems,
    as the GRPOTrainer path loads and checks them (`load_targets`)."""
    from datasets import Dataset

    from pgrpo.train.tasks import load_targets
    from pgrpo.verify import task_type

    kind = task_type(config.task)
    targets = list(load_targets(config).values())
    return Dataset.from_dict({"prompt": [kind.messages(t, config.data.prompt_style) for t in targets],
                              "task_id": [t.task_id for t in targets]})


def scorer_config(config: TrainConfig) -> TrainConfig:
    """The recipe as TRL's one rollout child scores it: a default-sized local pool gets the node's CPUs,
    since one process scores for every rank."""
    from pgrpo.sandbox.resources import available_cpus, default_workers, local_ranks

    sandbox = config.sandbox
    if sandbox.urls or local_ranks() == 1 or sandbox.workers != default_workers():
        return config
    return config.model_copy(update={"sandbox": sandbox.model_copy(update={"workers": available_cpus()})})


def with_response_parser(tokenizer: Any, where: str) -> Any:
    """`tokenizer` with the response template TRL's rollout child parses completions with; a ConfigError
    naming model.path when TRL knows none for its chat template, before any model loads."""
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
    module = async_grpo()
    try:
        args = module.AsyncGRPOConfig(output_dir=str(out), **kwargs)
    except (ValueError, TypeError) as exc:  # TRL's cross-field checks
        raise ConfigError(f"grpo: {exc}") from exc
    reward = PosteriorReward(scorer_config(config), timeout_s=call_bound_s(kwargs),
                             group_size=int(kwargs.get("num_generations") or 8), require_served_rm=True)
    reward_funcs = make_async_reward_funcs(reward, policy_path)
    return module.AsyncGRPOTrainer(model=policy_path, reward_funcs=reward_funcs, args=args,
                                   train_dataset=async_dataset(config), processing_class=tokenizer,
                                   callbacks=callbacks, peft_config=lora_config(config), **injected)


def run_async_training(config: TrainConfig) -> TrainResult:
    """`pgrpo train` for `trainer: async`: validate (before any model loads), models, trainer, train, save."""
    from pgrpo.hf_loading import ensure_pad_token
    from pgrpo.train.config import validate_train_config
    from pgrpo.train.distributed import first_per_node_then_rest
    from pgrpo.train.runner import finish, output_dir, prepare_models, say, start_run
    from pgrpo.train.trl_hooks import MetricsJsonlCallback

    if config.trainer != "async":
        raise ConfigError(f"trainer: {config.trainer!r}: run_async_training is for trainer: async")
    kwargs = validate_train_config(config, contact=False)  # services: checked below, by every rank at once
    out = output_dir(config)
    checkpoint = start_run(config, out, bool(kwargs.get("save_only_model", False)))

    def prepare() -> tuple[str, Any]:
        from transformers import AutoTokenizer

        policy, _ = prepare_models(config, out, int(kwargs.get("seed", 42)))
        tok = ensure_pad_token(AutoTokenizer.from_pretrained(policy, padding_side="left"))
        return policy, with_response_parser(tok, policy)

    policy_path, tokenizer = first_per_node_then_rest("preparing the models", prepare)
    say(f"trainer async, generation on {kwargs['vllm_server_base_url']}, reward mode {config.reward.mode}")
    callbacks = [MetricsJsonlCallback(out / config.logging.metrics_file)]  # no samples.jsonl on this path
    trainer = build_async_trainer(config, kwargs, out, policy_path, tokenizer, callbacks)
    return finish(trainer, tokenizer, config, out, checkpoint)
