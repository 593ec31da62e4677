"""Training tasks (`task:` in a recipe): how problems become prompts, and the verifier of their answers.

Owns `TASKS` (registry: "code", "math" -> example loader), `TrainExample`, `code_prompt`, `load_examples`,
`load_targets` (the reward targets alone, no tokenizer), `make_verifier` and `to_dataset` (the HF Dataset GRPOTrainer reads: a "prompt" column of
rendered text and a "task_id" column that reaches the reward functions). Code prompts come
from `pgrpo.data.prompts.render_prompt`, the same as evaluation; math from `pgrpo.data.math`.
R_f and R_o of both come from `pgrpo.verify`, the judgement `pgrpo evaluate` uses too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgrpo.data.problem import Problem, TestKind
from pgrpo.errors import DataError
from pgrpo.registry import Registry
from pgrpo.rewards.batch import Target
from pgrpo.train.config import DataSection, TrainConfig
from pgrpo.verify import Verifier


@dataclass(frozen=True)
class TrainExample:
    task_id: str
    prompt: str
    target: Target


# (config, tokenizer) -> the recipe's examples
ExampleLoader = Callable[[TrainConfig, Any], list[TrainExample]]
TASKS: Registry[ExampleLoader] = Registry("training task")


@TASKS.register("code")
def _load_code(config: TrainConfig, tokenizer: Any) -> list[TrainExample]:
    problems = _code_problems(config)
    return [TrainExample(p.task_id, code_prompt(p, tokenizer, config.data), Target(p.task_id, p.statement, p))
            for p in problems]


def _code_problems(config: TrainConfig) -> list[Problem]:
    from pgrpo.data.loaders import load_problems

    data = config.data
    problems = load_problems(data.source, data.format, split=data.split, limit=data.limit, **data.options)
    in_process = [p.task_id for p in problems if p.tests.kind is TestKind.UNITTEST]
    if in_process and not data.allow_unittest:
        raise DataError(f"data.source: {data.source!r}: {len(in_process)} problems (first {in_process[0]!r}) have "
                        f"'unittest' tests (BigCodeBench), which run inside the program's process: a policy can "
                        f"learn to forge their verdict instead of solving them. Set `data.allow_unittest: true` "
                        f"to train on them anyway")
    return problems


def code_prompt(problem: Problem, tokenizer: Any, data: DataSection) -> str:
    """The prompt text a code problem trains with (also what `pgrpo data build-rl --recipe` measures)."""
    from pgrpo.data.prompts import render_prompt

    return render_prompt(problem, tokenizer, data.prompt_style, prefill_think=data.think_prefilled)


@TASKS.register("math")
def _load_math(config: TrainConfig, tokenizer: Any) -> list[TrainExample]:
    from pgrpo.data.math import load_math_problems, math_messages
    from pgrpo.data.prompts import THINK_PREFILL

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


def load_targets(config: TrainConfig) -> dict[str, Target]:
    """task id -> reward Target of the recipe's problems, without rendering prompts (no tokenizer):
    what scoring completions needs (`pgrpo.engines.PosteriorReward`); the same problems, checks and
    targets as `load_examples`."""
    if config.task == "code":
        targets = [Target(p.task_id, p.statement, p) for p in _code_problems(config)]
    else:
        from pgrpo.data.math import load_math_problems

        data = config.data
        targets = [Target(p.task_id, p.problem, p)
                   for p in load_math_problems(data.source, split=data.split, limit=data.limit)]
    return {t.task_id: t for t in _checked(config, targets)}


def _checked(config: TrainConfig, items: list[Any]) -> list[Any]:
    """`items` (each with a task_id), or DataError when empty or an id repeats."""
    if not items:
        raise DataError(f"data.source: {config.data.source!r} gave no problems")
    seen: set[str] = set()
    for item in items:
        if item.task_id in seen:
            raise DataError(f"data.source: {config.data.source!r} has duplicate task id {item.task_id!r}")
        seen.add(item.task_id)
    return items


def make_verifier(config: TrainConfig) -> Verifier:
    """The recipe's verifier: its sandbox limits (a local pool, or the `sandbox.url` services) and
    whether prompts end inside <think>. Its sandbox starts here, so training refuses to start
    (IsolationError) when the isolation in use is weaker than `sandbox.isolation` demands."""
    verifier = Verifier(config.sandbox, think_prefilled=config.data.think_prefilled)
    if config.task == "code":
        try:
            verifier.preflight()
        except BaseException:
            verifier.close()
            raise
    return verifier


def load_examples(config: TrainConfig, tokenizer: Any) -> list[TrainExample]:
    """The recipe's problems as prompts + reward targets; DataError if empty or ids repeat."""
    return _checked(config, TASKS.get(config.task)(config, tokenizer))


def to_dataset(examples: list[TrainExample]):
    """HF Dataset with "prompt" (text) and "task_id" columns."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [e.prompt for e in examples], "task_id": [e.task_id for e in examples]})
