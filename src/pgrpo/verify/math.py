"""The "math" task type, `MathTask`: the final \\boxed{} of the answer region (`pgrpo.parsing.math`)
against the gold answer (`answers_match`). Runs no untrusted code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgrpo.data.math import MathProblem, load_math_problems, math_messages
from pgrpo.parsing.math import extract_boxed, parse_math_response
from pgrpo.verify.math_answer import answers_match
from pgrpo.verify.verdict import NO_ANSWER, WRONG_ANSWER, JobRunner, TaskType, Verdict


def grade_math_one(task: MathProblem, response: str, think_prefilled: bool = False) -> Verdict:
    parsed = parse_math_response(response, think_prefilled=think_prefilled)
    predicted = extract_boxed(parsed.answer)
    if not predicted:
        return Verdict(False, NO_ANSWER, 0.0, parsed.format_ok, parsed.reasoning, "", "",
                       "no \\boxed{} answer in the answer", tests_total=1)
    passed = answers_match(predicted, task.answer)
    detail = "" if passed else f"predicted {predicted[:100]!r}, gold {task.answer[:100]!r}"
    return Verdict(passed, "passed" if passed else WRONG_ANSWER, float(passed), parsed.format_ok, parsed.reasoning,
                   "", predicted, detail, tests_passed=int(passed), tests_total=1)


class MathTask(TaskType[MathProblem]):
    """Math questions with a gold final answer (MATH500, AIME, Minerva), compared by equivalence."""

    kind = "math"
    sandboxed = False
    record_format = None

    @staticmethod
    def load(source: str, *, split: str | None = None, limit: int | None = None, name: str = "",
             **options: Any) -> list[MathProblem]:
        return load_math_problems(source, split=split, limit=limit, name=name)

    @staticmethod
    def messages(task: MathProblem, style: str) -> list[dict[str, str]]:
        return math_messages(task, style)

    @staticmethod
    def record(task: MathProblem) -> dict[str, Any]:
        return {"task_id": task.task_id, "problem": task.statement, "answer": task.answer}

    @staticmethod
    def grade(items: Sequence[tuple[MathProblem, str]], run_jobs: JobRunner, think_prefilled: bool) -> list[Verdict]:
        del run_jobs  # math answers are compared, never executed
        return [grade_math_one(task, response, think_prefilled) for task, response in items]
