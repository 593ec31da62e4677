"""The math grader: the final \\boxed{} of the answer region against the gold answer.

One rule set for training and evaluation: the region is the one `pgrpo.parsing.math` defines
(a \\boxed{} only inside `<think>` is no answer), equivalence is `answers_match` (math-verify,
then a normalized string comparison). Runs no untrusted code.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgrpo.data.math import MathProblem
from pgrpo.parsing.math import extract_boxed, parse_math_response
from pgrpo.verify.math_answer import answers_match
from pgrpo.verify.verdict import GRADERS, NO_ANSWER, WRONG_ANSWER, JobRunner, Task, Verdict


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


@GRADERS.register("math")
def grade_math(items: Sequence[tuple[Task, str]], run_jobs: JobRunner, think_prefilled: bool) -> list[Verdict]:
    del run_jobs  # math answers are compared, never executed
    out = []
    for task, response in items:
        assert isinstance(task, MathProblem)  # GRADERS dispatches on MathProblem.kind
        out.append(grade_math_one(task, response, think_prefilled))
    return out
