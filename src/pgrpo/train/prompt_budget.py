"""Prompts that fit: the context (`grpo.vllm_max_model_length` with vLLM, else the policy's
max_position_embeddings) minus `grpo.max_completion_length`, counted as TRL 1.16 tokenizes text prompts.

`pgrpo data build-rl --recipe` drops longer prompts; `pgrpo train` refuses a dataset with any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.errors import DataError
from pgrpo.train.config import TrainConfig
from pgrpo.train.grpo_fields import grpo_value

NAMED = 5  # long prompts named in the refusal
BATCH = 256  # prompts tokenized at once


@dataclass(frozen=True)
class PromptBudget:
    max_prompt_tokens: int
    context_tokens: int
    context_from: str  # which key or model field set the context
    completion_tokens: int

    def describe(self) -> str:
        return (f"{self.max_prompt_tokens} tokens ({self.context_from} {self.context_tokens} - "
                f"grpo.max_completion_length {self.completion_tokens})")


@dataclass(frozen=True)
class LongPrompt:
    task_id: str
    tokens: int


def prompt_budget(grpo_kwargs: Mapping[str, Any], model_config: Any, policy: str) -> PromptBudget:
    """The budget for a recipe's checked `grpo` kwargs and its policy's model config (from `policy`)."""
    completion = int(grpo_value(grpo_kwargs, "max_completion_length"))
    vllm_length = grpo_kwargs.get("vllm_max_model_length")
    if grpo_value(grpo_kwargs, "use_vllm") and vllm_length:
        context, source = int(vllm_length), "grpo.vllm_max_model_length"
    else:
        positions = getattr(model_config, "max_position_embeddings", None)
        if not positions:
            raise DataError(f"model.path: {policy!r} has no max_position_embeddings in its config, so the prompt "
                            "budget is unknown; set grpo.use_vllm and grpo.vllm_max_model_length")
        context, source = int(positions), f"the policy's max_position_embeddings ({policy})"
    if context <= completion:
        raise DataError(f"grpo.max_completion_length: {completion} leaves no room for a prompt in {source} {context}")
    return PromptBudget(context - completion, context, source, completion)


def recipe_policy(config: TrainConfig) -> tuple[Any, Any, str]:
    """(tokenizer, model config, name) of the recipe's policy; for `model.build_tiny` the ones
    `pgrpo train` will build (`pgrpo.tiny`: same tokenizer ids, same model config), without building it."""
    from pgrpo.hf_loading import ensure_pad_token

    if config.model.build_tiny:
        from pgrpo.tiny import build_tokenizer, tiny_qwen2_config

        options = dict(config.model.tiny)
        tokenizer = build_tokenizer(options.pop("corpus", None))
        options.pop("seed", None)
        model_config = tiny_qwen2_config(len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, **options)
        return tokenizer, model_config, "the tiny policy (model.build_tiny)"
    from transformers import AutoConfig, AutoTokenizer

    assert config.model.path is not None  # validate_train_config: exactly one of path / build_tiny
    path = config.model.path
    return ensure_pad_token(AutoTokenizer.from_pretrained(path)), AutoConfig.from_pretrained(path), path


def count_prompt_tokens(tokenizer: Any, prompts: Sequence[str]) -> list[int]:
    """Tokens per prompt, counted as GRPOTrainer counts a text prompt."""
    counts: list[int] = []
    for start in range(0, len(prompts), BATCH):
        counts += [len(ids) for ids in tokenizer(text=list(prompts[start:start + BATCH]))["input_ids"]]
    return counts


def long_prompts(items: Iterable[tuple[str, str]], tokenizer: Any, budget: PromptBudget) -> list[LongPrompt]:
    """The (task id, prompt) items whose prompt exceeds the budget, in order."""
    items = list(items)
    counts = count_prompt_tokens(tokenizer, [prompt for _, prompt in items])
    return [LongPrompt(task_id, n) for (task_id, _), n in zip(items, counts) if n > budget.max_prompt_tokens]


def check_prompts_fit(config: TrainConfig, grpo_kwargs: Mapping[str, Any], tokenizer: Any, policy: str,
                      items: Iterable[tuple[str, str]]) -> PromptBudget:
    """The budget; DataError naming data.source and the first few prompts over it (id, tokens, budget)."""
    from transformers import AutoConfig

    budget = prompt_budget(grpo_kwargs, AutoConfig.from_pretrained(policy), policy)
    over = long_prompts(items, tokenizer, budget)
    if over:
        named = ", ".join(f"{p.task_id} ({p.tokens} tokens)" for p in over[:NAMED])
        more = f" and {len(over) - NAMED} more" if len(over) > NAMED else ""
        raise DataError(f"data.source: {config.data.source!r}: {len(over)} prompt(s) longer than the budget of "
                        f"{budget.describe()}: {named}{more}. Rebuild the set with `pgrpo data build-rl --recipe "
                        f"RECIPE` (it drops them), or give completions less room")
    return budget
