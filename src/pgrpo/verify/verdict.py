"""What a verification returns and how graders plug in: `Verdict`, `Task`, `BatchVerify`, `GRADERS`.

Owns the one result type every stage reads ("passed" means the same thing in training,
`pgrpo evaluate`, `pgrpo check`, `pgrpo bench build` and `pgrpo rm pairs`) and the grader
registry, keyed by a task's `kind` ("code", "math"). Nothing here runs code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from pgrpo.registry import Registry

if TYPE_CHECKING:
    from pgrpo.data.math import MathProblem
    from pgrpo.data.problem import Problem
    from pgrpo.sandbox.types import ExecResult, Job

Task = Union["Problem", "MathProblem"]

NO_CODE = "no_code"  # statuses decided before (or instead of) running anything
NO_ANSWER = "no_answer"
WRONG_ANSWER = "wrong_answer"
DETAIL_CHARS = 500  # enough to see the failing test; keeps logs and result files small


@dataclass(frozen=True)
class Verdict:
    """The judgement of one response to one task.

    passed: code: every test passed in the sandbox; math: the answer equals the gold answer.
    status: the sandbox `Status` value, or "no_code" / "no_answer" / "wrong_answer".
    format_ok: the format reward R_f of the task's response format.
    reasoning: the parsed reasoning (what the reward model reads).
    code: the extracted code ("" for math). answer: the answer region (code tasks: the
    `<answer>` text, else the code; math: the predicted final answer).
    """

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
# A grader judges the items of one task kind: (items, job runner, think_prefilled) -> verdicts.
Grader = Callable[[Sequence[tuple["Task", str]], JobRunner, bool], list[Verdict]]
GRADERS: Registry[Grader] = Registry("task kind")
