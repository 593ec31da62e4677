"""Training tasks (`task:` in a recipe): the recipe's problems as prompts and targets, and its verifier.

What a task kind loads, asks and grades is its `pgrpo.verify.TASK_TYPES` type, as in `pgrpo evaluate`.
Prompts must fit: the context (`grpo.vllm_max_model_length` with vLLM, else the policy's
max_position_embeddings) minus `grpo.max_completion_length`, counted as TRL 1.16 tokenizes text
prompts; `pgrpo data build-rl --recipe` drops longer ones, `pgrpo train` refuses a dataset with any.

SFT of tiny CPU policies (`sft_loss`, `fine_tune`): a random tiny policy never produces the format or
passing code, so every reward and advantage is 0; `format_warmup` teaches it the response structure
around canonical solutions so rewards vary within groups (it memorises answers: plumbing only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
    """task id -> task of the recipe's problems (no tokenizer: what scoring needs); DataError if empty or
    on in-process ('unittest') tests without `data.allow_unittest`."""
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
    """The recipe's verifier, its sandbox started (IsolationError if weaker than `sandbox.isolation`)."""
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


MARKER = "pgrpo_format_warmup.json"
# One training sequence: (prompt + response + eos token ids, number of prompt tokens).
Encoded = tuple[list[int], int]


def encode_example(tokenizer: Any, prompt: str, response: str) -> Encoded:
    """`prompt` (already rendered) and `response` tokenized without special tokens, plus eos."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids + [tokenizer.eos_token_id], len(prompt_ids)


def sft_loss(model: Any, batch: Sequence[Encoded], pad_id: int) -> Any:
    """The causal-LM loss of one batch of encoded rows, on response tokens only: rows right-padded
    with `pad_id`, pads masked out of attention and loss. A caller's own loop backpropagates it."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, (seq, n_prompt) in enumerate(batch):
        ids[r, :len(seq)] = torch.tensor(seq)
        labels[r, n_prompt:len(seq)] = torch.tensor(seq[n_prompt:])
        mask[r, :len(seq)] = 1
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def fine_tune(model: Any, rows: Sequence[Encoded], pad_id: int, *, steps: int, learning_rate: float) -> list[float]:
    """Train `model` in place for `steps` full-batch AdamW steps at `learning_rate`; returns the loss
    of each step."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = sft_loss(model, rows, pad_id)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def _short_solution(problem: object) -> str | None:
    """The canonical solution without the statement's docstring (fewer tokens to memorise)."""
    canonical: str | None = getattr(problem, "canonical_solution", None)
    starter = getattr(problem, "starter_code", "") or ""
    entry = getattr(problem, "entry_point", "") or ""
    if not canonical:
        return None
    if starter and entry and canonical.startswith(starter):
        lines = starter.splitlines()
        header = [line for line in lines if line.lstrip().startswith(f"def {entry}(")]
        if header:
            head = lines[: lines.index(header[0]) + 1]
            return "\n".join(head) + "\n" + canonical[len(starter):].strip("\n")
    return canonical.strip("\n")


def warmup_response(example: TrainExample) -> str:
    """A well-formatted response: short reasoning, then the canonical solution when the problem
    has one (so some sampled completions can pass), else a stub that does not solve it."""
    problem = example.task
    entry = getattr(problem, "entry_point", "") or "solve"
    code = _short_solution(problem) or f"def {entry}(*args):\n    return None"
    return f"<think>\nI will write {entry}.\n</think>\n<answer>\n```python\n{code}\n```\n</answer>"


def format_warmup(model_dir: str | Path, examples: Sequence[TrainExample], steps: int, *,
                  lr: float = 5e-3, seed: int = 0) -> bool:
    """Fine-tune the model in `model_dir` for `steps` full-batch steps on formatted responses to
    the examples' prompts; returns False (and does nothing) if this dir was already warmed up."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if steps <= 0 or (model_dir / MARKER).is_file():
        return False
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [encode_example(tokenizer, ex.prompt, warmup_response(ex)) for ex in examples]
    losses = fine_tune(model, rows, tokenizer.pad_token_id, steps=steps, learning_rate=lr)
    model.save_pretrained(model_dir)
    (model_dir / MARKER).write_text(json.dumps({"steps": steps, "final_loss": losses[-1]}), encoding="utf-8")
    return True
