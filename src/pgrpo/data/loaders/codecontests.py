"""DeepMind CodeContests (`deepmind/code_contests` on the hub) rows -> Problem.

Owns the `codecontests` format, the hub's columns: name, description, public_tests /
private_tests / generated_tests (each `{"input": [...], "output": [...]}`), solutions
(`{"language": [int], "solution": [str]}`, language 3 = Python 3), source and difficulty
(integer enums), time_limit (`{"seconds", "nanos"}`), memory_limit_bytes, cf_rating, cf_tags,
input_file / output_file. Every problem is stdin/stdout; its tests are public + private +
generated (what the dataset grades on), identical cases once. The first Python 3 solution is
the reference solution. Problems that read or write named files cannot be graded on stdio and
are rejected (DataError naming the row; `skip_bad` skips them).
"""

from __future__ import annotations

from typing import Any

from pgrpo.data.loaders.base import LoadOptions, Record, loader
from pgrpo.data.problem import Problem, StdioCase, TestKind, Tests

PYTHON3 = 3
SOURCES = ("unknown", "codechef", "codeforces", "hackerearth", "codejam", "atcoder", "aizu")
# the hub's Difficulty enum: 0-6 named, then 7.. the Codeforces problem letters A..V
DIFFICULTIES = ("unknown", "easy", "medium", "hard", "harder", "hardest", "external",
                *(chr(ord("a") + i) for i in range(22)))
_TEST_FIELDS = ("public_tests", "private_tests", "generated_tests")


def _detect(keys: frozenset[str]) -> bool:
    return {"name", "description", "public_tests", "private_tests"} <= keys


def _enum(record: Record, name: str, names: tuple[str, ...]) -> str | None:
    value = record.get(name, (int, str))
    if isinstance(value, int):
        return names[value] if 0 <= value < len(names) else str(value)
    return value.lower() if value else None


def _cases(record: Record, name: str) -> list[StdioCase]:
    tests = record.get(name, dict, default={})
    inputs, outputs = tests.get("input") or [], tests.get("output") or []
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise record.error(name, "must hold lists 'input' and 'output' of the same length")
    return [StdioCase(stdin=str(i), stdout=str(o)) for i, o in zip(inputs, outputs)]


def _python3_solution(record: Record) -> str | None:
    solutions = record.get("solutions", dict, default={})
    languages, texts = solutions.get("language") or [], solutions.get("solution") or []
    for language, text in zip(languages, texts):
        if language == PYTHON3 and isinstance(text, str) and text.strip():
            return text
    return None


def _time_limit(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("seconds"), (int, float)):
        return float(value["seconds"]) + float(value.get("nanos") or 0) / 1e9
    return None


@loader("codecontests", "DeepMind CodeContests: stdin/stdout, public + private + generated tests", _detect,
        priority=10)
def convert_codecontests(record: Record, options: LoadOptions) -> Problem:
    name = record.require_str("name")
    for field_name in ("input_file", "output_file"):
        if record.get(field_name, str, default=""):
            raise record.error(field_name, "is set: the problem reads/writes files, not stdin/stdout")
    cases = list(dict.fromkeys(c for field_name in _TEST_FIELDS for c in _cases(record, field_name)))
    if not cases:
        raise record.error("public_tests", "and private_tests / generated_tests hold no test cases")
    public = _cases(record, "public_tests")
    metadata: dict[str, Any] = {"platform": _enum(record, "source", SOURCES)}
    for key in ("cf_rating", "cf_contest_id", "cf_index", "memory_limit_bytes"):
        if isinstance(record.data.get(key), (int, str)) and not isinstance(record.data.get(key), bool):
            metadata[key] = record.data[key]
    if (limit := _time_limit(record.data.get("time_limit"))) is not None:
        metadata["time_limit_s"] = limit
    return Problem(
        task_id=name,
        statement=record.require_str("description"),
        tests=Tests(kind=TestKind.STDIO, stdio_cases=tuple(cases)),
        public_tests=Tests(kind=TestKind.STDIO, stdio_cases=tuple(public)) if public else None,
        source="codecontests",
        difficulty=_enum(record, "difficulty", DIFFICULTIES),
        canonical_solution=_python3_solution(record),
        metadata=metadata,
    )
