"""Training tasks (`task:` in a recipe): the recipe's problems as prompts and targets, and its verifier.

What a task kind loads, asks and grades is its `pgrpo.verify.TASK_TYPES` type, as in `pgrpo evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgrpo.data.problem import Problem
from pgrpo.errors import DataError
from pgrpo.sandbox.kinds import SPECS
from pgrpo.train.config import DataSection, TrainConfig
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
