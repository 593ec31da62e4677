"""What a verification returns and what a task type is: `Verdict`, `Task`, `BatchVerify`, `TaskType`.
Nothing here runs code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, Union

from pgrpo.data.math import MathProblem
from pgrpo.data.problem import Problem
from pgrpo.data.prompts import render_messages

if TYPE_CHECKING:
    from pgrpo.sandbox.types import ExecResult, Job

# A task of any kind: each says `kind`, `task_id` and `statement` (the text the model and the RM read).
Task = Union[Problem, MathProblem]
T = TypeVar("T", Problem, MathProblem)

NO_CODE = "no_code"  # statuses decided before (or instead of) running anything
NO_ANSWER = "no_answer"
WRONG_ANSWER = "wrong_answer"
DETAIL_CHARS = 500  # enough to see the failing test; keeps logs and result files small


@dataclass(frozen=True)
class Verdict:
    """The judgement of one response to one task: `passed` (every test / the gold answer), the sandbox
    `Status` value or "no_code" / "no_answer" / "wrong_answer", R_f, the reasoning the RM reads, the code
    ("" for math) and the answer (code: the `<answer>` text, else the code; math: the final answer)."""

    passed: bool
    status: str
    pass_fraction: float
    format_ok: bool
    reasoning: str
    code: str
    answer: str
    detail: str = ""
    runtime_s: float = 0.0
    tests_passed: int = 0
    tests_total: int = 0


# (task, full model response) pairs -> one Verdict each, same order.
BatchVerify = Callable[[Sequence[tuple["Task", str]]], list[Verdict]]
# Runs sandbox jobs in order (a started Sandbox's `run`).
JobRunner = Callable[[Sequence["Job"]], list["ExecResult"]]


class TaskType(ABC, Generic[T]):
    """One task kind in one place (`pgrpo.verify.TASK_TYPES`): its problems, prompts and grading."""

    kind: ClassVar[str]
    sandboxed: ClassVar[bool]  # grading runs programs (the Verifier starts its sandbox up front)
    record_format: ClassVar[str | None]  # the `format` that reads `record`s back (None: the kind's only one)

    @staticmethod
    @abstractmethod
    def load(source: str, *, split: str | None = None, limit: int | None = None, name: str = "",
             **options: Any) -> list[T]:
        """The problems of `source` (a local file or a hub id; `name`: the benchmark's, for default ids)."""

    @staticmethod
    @abstractmethod
    def messages(task: T, style: str) -> list[dict[str, str]]:
        """The chat messages asking `task` in prompt `style` ("pgrpo" | "plain")."""

    @staticmethod
    @abstractmethod
    def record(task: T) -> dict[str, Any]:
        """`task` as a row of a problem file `load` reads back (`record_format`)."""

    @staticmethod
    @abstractmethod
    def grade(items: Sequence[tuple[T, str]], run_jobs: JobRunner, think_prefilled: bool) -> list[Verdict]:
        """One verdict per (task, full response), same order; never raises per item."""

    @classmethod
    def prompt(cls, task: T, tokenizer: Any, style: str, *, prefill_think: bool = False) -> str:
        """The prompt text (the tokenizer's chat template over `messages`; `pgrpo.data.prompts.render_messages`)."""
        return render_messages(cls.messages(task, style), tokenizer, prefill_think=prefill_think)
