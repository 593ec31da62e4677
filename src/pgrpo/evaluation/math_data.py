"""Math benchmark data (MATH500, Minerva, AIME style) and the math prompt.

Owns: `MathProblem`, `load_math_problems(source)` for local JSON / JSONL (.gz ok) files
with flexible keys, or a hub dataset id when the network allows, and `math_messages`.
Keys accepted: statement from `problem` / `question` / `Problem` / `Question`; gold from
`answer` / `Answer` / `final_answer`, else the last \\boxed{} of `solution` / `Solution`;
id from `unique_id` / `task_id` / `id` / `ID`, else the row index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgrpo.data.io import iter_jsonl, read_json
from pgrpo.errors import DataError, PgrpoError

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

    task_id: str
    problem: str
    answer: str
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def _first(row: dict[str, Any], keys: Iterable[str]) -> tuple[str, Any] | None:
    for key in keys:
        if row.get(key) not in (None, ""):
            return key, row[key]
    return None


def math_problem_from_row(row: dict[str, Any], index: int, where: str, source: str = "") -> MathProblem:
    """One raw row -> MathProblem; DataError names `where` (file:line) and the missing field."""
    from pgrpo.evaluation.math_answer import extract_boxed

    statement = _first(row, STATEMENT_KEYS)
    if statement is None:
        raise DataError(f"{where}: no problem text (looked for {', '.join(STATEMENT_KEYS)})")
    answer_item = _first(row, ANSWER_KEYS)
    if answer_item is not None:
        answer = str(answer_item[1])
    else:
        solution = _first(row, SOLUTION_KEYS)
        boxed = extract_boxed(str(solution[1])) if solution is not None else None
        if not boxed:
            raise DataError(f"{where}: no gold answer (looked for {', '.join(ANSWER_KEYS)}, "
                            f"or a \\boxed{{}} in {', '.join(SOLUTION_KEYS)})")
        answer = boxed
    ident = _first(row, ID_KEYS)
    task_id = str(ident[1]) if ident is not None else f"{source or 'math'}/{index}"
    used = {statement[0], *ANSWER_KEYS, *SOLUTION_KEYS, *ID_KEYS}
    meta = {k: v for k, v in row.items() if k not in used and isinstance(v, (str, int, float, bool))}
    return MathProblem(task_id, str(statement[1]), answer, source, meta)


def _rows_from_file(path: Path) -> list[tuple[str, dict[str, Any]]]:
    name = path.name.removesuffix(".gz")
    if name.endswith(".jsonl"):
        return [(f"{path}:{lineno}", row) for lineno, row in iter_jsonl(path)]
    if name.endswith(".json"):
        data = read_json(path)
        if isinstance(data, dict):  # {"data": [...]} or {"test": [...]}
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise DataError(f"{path}: expected a list of problems or an object with one list in it")
            data = lists[0]
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of problems")
        rows = []
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise DataError(f"{path}: item {i}: expected an object, got {type(row).__name__}")
            rows.append((f"{path}: item {i}", row))
        return rows
    raise DataError(f"{path}: unsupported math data file (use .json or .jsonl, optionally .gz)")


def _rows_from_hub(source: str, split: str | None) -> list[tuple[str, dict[str, Any]]]:
    try:
        from datasets import load_dataset

        dataset = load_dataset(source, split=split or "test")
    except Exception as exc:  # noqa: BLE001 - any hub/network failure becomes one clear message
        raise PgrpoError(f"cannot load math dataset {source!r} from the hub ({type(exc).__name__}: {exc})") from exc
    return [(f"{source}[{i}]", dict(row)) for i, row in enumerate(dataset)]


def load_math_problems(source: str, *, split: str | None = None, limit: int | None = None,
                       name: str = "") -> list[MathProblem]:
    """Load (problem, answer) items from a local file, else treat `source` as a hub dataset id."""
    path = Path(source)
    rows = _rows_from_file(path) if path.exists() else _rows_from_hub(source, split)
    problems = [math_problem_from_row(row, i, where, name) for i, (where, row) in enumerate(rows)]
    seen: set[str] = set()
    for p in problems:
        if p.task_id in seen:
            raise DataError(f"{source}: duplicate task id {p.task_id!r}")
        seen.add(p.task_id)
    return problems[:limit] if limit is not None else problems


def math_messages(problem: MathProblem, style: str) -> list[dict[str, str]]:
    """Chat messages for a math problem; "pgrpo" uses the think/answer format, "plain" does not."""
    if style == "pgrpo":
        return [{"role": "system", "content": MATH_PGRPO_SYSTEM},
                {"role": "user", "content": f"{problem.problem}\n\n{MATH_INSTRUCTION}"}]
    if style == "plain":
        return [{"role": "user", "content": f"{problem.problem}\n\n{MATH_INSTRUCTION}"}]
    raise PgrpoError(f"unknown prompt style {style!r}; known: pgrpo, plain")
