"""The "code" task type, `CodeTask`: problems, prompts, and the grader (parse a response once, build
its program, run it in the sandbox; R_o = 1 iff every test passes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgrpo.data.loaders import load_problems
from pgrpo.data.problem import Problem
from pgrpo.data.prompts import build_messages
from pgrpo.data.schema import problem_to_dict
from pgrpo.parsing import parse_response
from pgrpo.sandbox.programs import program_from_code
from pgrpo.sandbox.types import ExecResult, Job
from pgrpo.verify.verdict import DETAIL_CHARS, NO_CODE, JobRunner, TaskType, Verdict


def verdict_from_exec(result: ExecResult, *, format_ok: bool = False, reasoning: str = "", code: str = "",
                      answer: str = "") -> Verdict:
    """A sandbox result as a Verdict (also for `pgrpo check`'s completion/solution samples)."""
    return Verdict(result.passed, result.status.value, result.pass_fraction, format_ok, reasoning, code, answer,
                   result.detail[:DETAIL_CHARS], result.runtime_s, result.tests_passed, result.tests_total)


class CodeTask(TaskType[Problem]):
    """Programming problems (HumanEval(+), MBPP(+), LiveCodeBench, APPS, BigCodeBench...), graded in the sandbox."""

    kind = "code"
    sandboxed = True
    record_format = "pgrpo"

    @staticmethod
    def load(source: str, *, split: str | None = None, limit: int | None = None, name: str = "",
             **options: Any) -> list[Problem]:
        return load_problems(source, split=split, limit=limit, **options)

    @staticmethod
    def messages(task: Problem, style: str) -> list[dict[str, str]]:
        return build_messages(task, style)

    @staticmethod
    def record(task: Problem) -> dict[str, Any]:
        return problem_to_dict(task)

    @staticmethod
    def grade(items: Sequence[tuple[Problem, str]], run_jobs: JobRunner, think_prefilled: bool) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(items)
        jobs: list[Job] = []
        pending: list[tuple[int, bool, str, str, str]] = []
        for i, (task, response) in enumerate(items):
            parsed = parse_response(response, think_prefilled=think_prefilled)
            answer = parsed.answer or parsed.code
            program = program_from_code(task, parsed.code)
            if not program.strip():
                verdicts[i] = Verdict(False, NO_CODE, 0.0, parsed.format_ok, parsed.reasoning, "", answer,
                                      "no code found in the response", tests_total=task.tests.count)
                continue
            jobs.append(Job(task, program))
            pending.append((i, parsed.format_ok, parsed.reasoning, parsed.code, answer))
        for (i, format_ok, reasoning, code, answer), result in zip(pending, run_jobs(jobs) if jobs else [],
                                                                   strict=True):
            verdicts[i] = verdict_from_exec(result, format_ok=format_ok, reasoning=reasoning, code=code,
                                            answer=answer)
        return [v for v in verdicts if v is not None]
