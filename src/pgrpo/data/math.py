"""Math problems (MATH500, Minerva, AIME style): `MathProblem`, `load_math_problems` (any source
`iter_records` reads; the statement, gold answer or boxed solution and id from the first of several
usual keys) and the math prompt `math_messages`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar

from pgrpo.data.loaders.base import Record
from pgrpo.data.loaders.reading import iter_records
from pgrpo.errors import DataError, PgrpoError
from pgrpo.parsing.response import extract_boxed

STATEMENT_KEYS = ("problem", "question", "Problem", "Question")
ANSWER_KEYS = ("answer", "Answer", "final_answer")
SOLUTION_KEYS = ("solution", "Solution")
ID_KEYS = ("unique_id", "task_id", "id", "ID")

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
MATH_PGRPO_SYSTEM = (
    "You are a careful mathematician. Think through the problem inside <think>...</think>, "
    "then give the final result inside <answer>...</answer>, written as \\boxed{ANSWER}."
)


@dataclass(frozen=True)
class MathProblem:
    """A math question with its gold final answer (compared by equivalence, not string)."""

    kind: ClassVar[str] = "math"  # picks its task type (pgrpo.verify.TASK_TYPES)
    task_id: str
    statement: str  # the question (Problem's field of the same name)
    answer: str
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def _first(row: Mapping[str, Any], keys: Iterable[str]) -> tuple[str, Any] | None:
    for key in keys:
        if row.get(key) not in (None, ""):
            return key, row[key]
    return None


def looks_like_math(row: Mapping[str, Any]) -> bool:
    """A row with a statement and a gold answer (or a boxed solution) and no code tests."""
    has_statement = any(k in row for k in STATEMENT_KEYS)
    has_answer = any(k in row for k in ANSWER_KEYS) or "\\boxed" in str(row.get("solution", ""))
    has_tests = any(k in row for k in ("test", "tests", "test_list", "input_output", "public_test_cases",
                                       "private_test_cases", "entry_point", "plus_input"))
    return has_statement and has_answer and not has_tests


def math_problem_from_record(record: Record, source: str = "") -> MathProblem:
    """One raw record -> MathProblem; DataError names the record's file:line and the missing field."""
    row = record.data
    statement = _first(row, STATEMENT_KEYS)
    if statement is None:
        raise DataError(f"{record.where}: no problem text (looked for {', '.join(STATEMENT_KEYS)})")
    answer_item = _first(row, ANSWER_KEYS)
    if answer_item is not None:
        answer = str(answer_item[1])
    else:
        solution = _first(row, SOLUTION_KEYS)
        boxed = extract_boxed(str(solution[1])) if solution is not None else None
        if not boxed:
            raise DataError(f"{record.where}: no gold answer (looked for {', '.join(ANSWER_KEYS)}, "
                            f"or a \\boxed{{}} in {', '.join(SOLUTION_KEYS)})")
        answer = boxed
    ident = _first(row, ID_KEYS)
    # 0-based default ids, as earlier releases wrote them into result files
    task_id = str(ident[1]) if ident is not None else f"{source or 'math'}/{record.index - 1}"
    used = {statement[0], *ANSWER_KEYS, *SOLUTION_KEYS, *ID_KEYS}
    meta = {k: v for k, v in row.items() if k not in used and isinstance(v, (str, int, float, bool))}
    return MathProblem(task_id, str(statement[1]), answer, source, meta)


def load_math_problems(source: str, *, split: str | None = None, limit: int | None = None,
                       name: str = "") -> list[MathProblem]:
    """Load (problem, answer) items from a local file or a hub dataset id (default split "test")."""
    problems = [math_problem_from_record(r, name) for r in islice(iter_records(source, split), limit)]
    repeated = [task_id for task_id, count in Counter(p.task_id for p in problems).items() if count > 1]
    if repeated:
        raise DataError(f"{source}: duplicate task id {repeated[0]!r}")
    return problems


def math_messages(problem: MathProblem, style: str) -> list[dict[str, str]]:
    """Chat messages for a math problem; "pgrpo" uses the think/answer format, "plain" does not."""
    if style not in ("pgrpo", "plain"):
        raise PgrpoError(f"unknown prompt style {style!r}; known: pgrpo, plain")
    user = {"role": "user", "content": f"{problem.statement}\n\n{MATH_INSTRUCTION}"}
    return [{"role": "system", "content": MATH_PGRPO_SYSTEM}, user] if style == "pgrpo" else [user]
