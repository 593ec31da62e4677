"""Training tasks (`task:` in a recipe): the recipe's problems as prompts and targets, and its verifier.

What a task kind loads, asks and grades is its `pgrpo.verify.TASK_TYPES` type, as in `pgrpo evaluate`.
Prompts must fit: the context (`grpo.vllm_max_model_length` with vLLM, else the policy's
max_position_embeddings) minus `grpo.max_completion_length`, counted as TRL 1.16 tokenizes text
prompts; `pgrpo data build-rl --recipe` drops longer ones, `pgrpo train` refuses a dataset with any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgrpo.data.problem import Problem
from pgrpo.errors import DataError
from pgrpo.sandbox.kinds import SPECS
from pgrpo.train.config import DataSection, TrainConfig
from pgrpo.train.grpo_fields import grpo_value
from pgrpo.verify import CodeTask, Task, Verifier, task_type

if TYPE_CHECKING:
    from datasets import Dataset


@dataclass(frozen=True)
class TrainExample:
    task_id: str
    prompt: str
    task: Task  # what a completion is judged against (its `statement` is what the RM reads)


def code_prompt(problem: Problem, tokenizer: Any, data: DataSection) -> str:
    """The prompt text a code problem trains with (also what `pgrpo data build-rl --recipe` measures)."""
    return CodeTask.prompt(problem, tokenizer, data.prompt_style, prefill_think=data.think_prefilled)


def load_targets(config: TrainConfig) -> dict[str, Task]:
    """task id -> task of the recipe's problems, without rendering prompts (no tokenizer): what
    scoring completions needs (`pgrpo.engines.PosteriorReward`); the same problems and checks as
    `load_examples`. DataError if empty, if an id repeats (the loader's), or on problems whose tests
    run in the program's process (BigCodeBench's 'unittest') without `data.allow_unittest`."""
    data = config.data
    tasks = task_type(config.task).load(data.source, split=data.split, limit=data.limit, format=data.format,
                                        **data.options)
    if not tasks:
        raise DataError(f"data.source: {data.source!r} gave no problems")
    in_process = [t for t in tasks if isinstance(t, Problem) and SPECS[t.tests.kind].in_process]
    if in_process and not data.allow_unittest:
        raise DataError(f"data.source: {data.source!r}: {len(in_process)} problems (first {in_process[0].task_id!r}) "
                        f"have {in_process[0].tests.kind.value!r} tests (BigCodeBench), which run inside the "
                        f"program's process: a policy can learn to forge their verdict instead of solving them. "
                        f"Set `data.allow_unittest: true` to train on them anyway")
    return {t.task_id: t for t in tasks}  # the loaders refuse a repeated task id


def load_examples(config: TrainConfig, tokenizer: Any) -> list[TrainExample]:
    """The recipe's problems as prompts + the tasks they are judged against."""
    kind, data = task_type(config.task), config.data
    return [TrainExample(t.task_id, kind.prompt(t, tokenizer, data.prompt_style, prefill_think=data.think_prefilled), t)
            for t in load_targets(config).values()]


def make_verifier(config: TrainConfig) -> Verifier:
    """The recipe's verifier: its sandbox limits (a local pool, or the `sandbox.url` services) and
    whether prompts end inside <think>. Its sandbox starts here, so training refuses to start
    (IsolationError) when the isolation in use is weaker than `sandbox.isolation` demands."""
    verifier = Verifier(config.sandbox, think_prefilled=config.data.think_prefilled)
    if task_type(config.task).sandboxed:
        try:
            verifier.preflight()
        except BaseException:
            verifier.close()
            raise
    return verifier


def to_dataset(examples: list[TrainExample]) -> Dataset:
    """HF Dataset with "prompt" (text) and "task_id" columns."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [e.prompt for e in examples], "task_id": [e.task_id for e in examples]})


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
