"""The `bigcodebench` format (hub `bigcode/bigcodebench`, `-hard`): problems load in the *complete*
split (statement = starter code = complete_prompt), `as_instruct` gives the *instruct* split; the
canonical solution is complete_prompt + its body; tests are the row's unittest `TestCases`."""

from __future__ import annotations

import ast
import dataclasses

from pgrpo.data.loaders.base import LoadOptions, Record, has_keys, loader
from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.unittest_suite import unittest_names
from pgrpo.errors import DataError

BIGCODEBENCH_KEYS = frozenset({"task_id", "complete_prompt", "instruct_prompt", "canonical_solution", "code_prompt",
                               "test", "entry_point"})
_OWN = BIGCODEBENCH_KEYS | {"libs", "doc_struct"}


def _libs(record: Record) -> list[str]:
    """`libs`: the hub stores the text of a Python list; a real list is accepted too."""
    value = record.get("libs", (str, list), default=[])
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value) if value.strip() else []
        except (SyntaxError, ValueError):
            raise record.error("libs", f"is not a Python list literal: {value[:80]!r}") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise record.error("libs", "must be a list of library names")
    return list(value)


@loader("bigcodebench", "BigCodeBench: complete/instruct prompts + unittest TestCases",
        has_keys(BIGCODEBENCH_KEYS), priority=30)
def convert_bigcodebench(record: Record, options: LoadOptions) -> Problem:
    complete = record.require("complete_prompt")
    test = record.require("test")
    if not unittest_names(test):
        raise record.error("test", "defines no `class TestCases(unittest.TestCase)` with test methods")
    metadata = {"instruct_prompt": record.require("instruct_prompt"),
                "code_prompt": record.require("code_prompt"), "libs": _libs(record),
                "doc_struct": record.get("doc_struct", default=""), "split": "complete"}
    # the hard subset's extra columns, kept untouched
    metadata.update(record.pick([key for key in record.data if key not in _OWN], (str, int, float, bool)))
    return Problem(
        task_id=record.require("task_id"),
        statement=complete,
        starter_code=complete,
        entry_point=record.require("entry_point"),
        tests=Tests(kind=TestKind.UNITTEST, test_code=test),
        source="bigcodebench",
        canonical_solution=complete + "\n" + record.require("canonical_solution"),
        metadata=metadata,
    )


def as_instruct(problem: Problem) -> Problem:
    """The instruct split of a BigCodeBench problem: the natural-language prompt, code_prompt as
    starter code (a response that only writes the body continues it); the same tests."""
    instruct, code_prompt = problem.metadata.get("instruct_prompt"), problem.metadata.get("code_prompt")
    if problem.tests.kind is not TestKind.UNITTEST:
        raise DataError(f"task {problem.task_id!r}: the instruct split needs BigCodeBench rows (tests kind "
                        f"'unittest'), got tests kind {problem.tests.kind.value!r}")
    if not isinstance(instruct, str) or not isinstance(code_prompt, str):
        raise DataError(f"task {problem.task_id!r}: not a BigCodeBench row (metadata has no instruct_prompt / "
                        f"code_prompt; load the hub layout, whose columns these are)")
    return dataclasses.replace(problem, statement=instruct, starter_code=code_prompt,
                               metadata={**problem.metadata, "split": "instruct"})
