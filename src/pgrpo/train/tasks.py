"""Training tasks (`task:` in a recipe): how problems become prompts and how R_o is computed.

Owns `TASKS` (registry: "code", "math") of `TaskSpec`s, `TrainExample`, `load_examples` and
`to_dataset` (the HF Dataset GRPOTrainer reads: a "prompt" column of rendered text and a
"task_id" column that reaches the reward functions). Code prompts come from
`pgrpo.data.prompts.render_prompt`, the same as evaluation; R_o from the sandbox. Math uses
`pgrpo.evaluation.math_data` and answer equivalence; its format check is the math one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from pgrpo.errors import DataError
from pgrpo.registry import Registry
from pgrpo.rewards.batch import OutcomeFn, Target
from pgrpo.train.config import TrainConfig


@dataclass(frozen=True)
class TrainExample:
    task_id: str
    prompt: str
    target: Target


@dataclass(frozen=True)
class TaskSpec:
    """load: (config, tokenizer) -> examples; parse: config -> completion parser whose result
    has `format_ok` (R_f) and `reasoning`; outcome: config -> context manager yielding an OutcomeFn."""

    name: str
    load: Callable[[TrainConfig, Any], list[TrainExample]]
    parse: Callable[[TrainConfig], Callable[[str], Any]]
    outcome: Callable[[TrainConfig], contextlib.AbstractContextManager[OutcomeFn]]


TASKS: Registry[TaskSpec] = Registry("training task")


def _load_code(config: TrainConfig, tokenizer: Any) -> list[TrainExample]:
    from pgrpo.data.loaders import load_problems
    from pgrpo.data.prompts import render_prompt

    data = config.data
    problems = load_problems(data.source, data.format, split=data.split, limit=data.limit, **data.options)
    return [TrainExample(p.task_id, render_prompt(p, tokenizer, data.prompt_style, prefill_think=data.think_prefilled),
                         Target(p.task_id, p.statement, p))
            for p in problems]


def _parse_code(config: TrainConfig) -> Callable[[str], Any]:
    from pgrpo.parsing import parse_response

    return partial(parse_response, think_prefilled=config.data.think_prefilled)


@contextlib.contextmanager
def _code_outcome(config: TrainConfig) -> Iterator[OutcomeFn]:
    from pgrpo.config import build_dataclass
    from pgrpo.rewards.outcomes import sandbox_outcome_fn
    from pgrpo.sandbox import Sandbox, SandboxConfig

    with Sandbox(build_dataclass(SandboxConfig, config.sandbox, prefix="sandbox")) as sandbox:
        yield sandbox_outcome_fn(sandbox)


def _load_math(config: TrainConfig, tokenizer: Any) -> list[TrainExample]:
    from pgrpo.data.prompts import THINK_PREFILL
    from pgrpo.evaluation.math_data import load_math_problems, math_messages

    data = config.data
    problems = load_math_problems(data.source, split=data.split, limit=data.limit)
    examples = []
    for p in problems:
        prompt = tokenizer.apply_chat_template(math_messages(p, data.prompt_style), tokenize=False,
                                               add_generation_prompt=True)
        if data.think_prefilled:
            prompt += THINK_PREFILL
        examples.append(TrainExample(p.task_id, prompt, Target(p.task_id, p.problem, p)))
    return examples


def _parse_math(config: TrainConfig) -> Callable[[str], Any]:
    from pgrpo.rewards.outcomes import parse_math_response

    return partial(parse_math_response, think_prefilled=config.data.think_prefilled)


@contextlib.contextmanager
def _math_outcome(config: TrainConfig) -> Iterator[OutcomeFn]:
    from pgrpo.rewards.outcomes import math_outcome_fn

    yield math_outcome_fn(think_prefilled=config.data.think_prefilled)


TASKS.add("code", TaskSpec("code", _load_code, _parse_code, _code_outcome))
TASKS.add("math", TaskSpec("math", _load_math, _parse_math, _math_outcome))


def load_examples(config: TrainConfig, tokenizer: Any) -> list[TrainExample]:
    """The recipe's problems as prompts + reward targets; DataError if empty or ids repeat."""
    examples = TASKS.get(config.task).load(config, tokenizer)
    if not examples:
        raise DataError(f"data.source: {config.data.source!r} gave no problems")
    seen: set[str] = set()
    for ex in examples:
        if ex.task_id in seen:
            raise DataError(f"data.source: {config.data.source!r} has duplicate task id {ex.task_id!r}")
        seen.add(ex.task_id)
    return examples


def to_dataset(examples: list[TrainExample]):
    """HF Dataset with "prompt" (text) and "task_id" columns."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [e.prompt for e in examples], "task_id": [e.task_id for e in examples]})
