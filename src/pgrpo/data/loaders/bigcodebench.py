"""BigCodeBench rows (hub `bigcode/bigcodebench`, `bigcode/bigcodebench-hard`) -> Problem.

Owns the `bigcodebench` format and its two prompt splits. A row holds task_id,
complete_prompt (imports + signature + docstring), instruct_prompt (natural language that
ends with the code to start from), canonical_solution (the function BODY), code_prompt
(imports + signature), test (a module defining `class TestCases(unittest.TestCase)`),
entry_point, libs (the text of a Python list, e.g. "['numpy', 'os']") and doc_struct (text);
the hard subset adds columns that are kept in metadata untouched.

Problems load in the *complete* split (statement = starter code = complete_prompt, the
human-eval shape); `as_instruct` turns one into the *instruct* split (statement =
instruct_prompt, starter code = code_prompt). The canonical solution is stored as a
self-contained program, complete_prompt + "\\n" + canonical_solution, exactly what the
benchmark's own ground-truth check runs. Tests are TestKind.UNITTEST (run by the sandbox's
unittest harness).
"""

from __future__ import annotations

import ast
import dataclasses

from pgrpo.data.loaders.base import LoadOptions, Record, loader
from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.unittest_suite import unittest_names
from pgrpo.errors import DataError

BIGCODEBENCH_KEYS = frozenset({"task_id", "complete_prompt", "instruct_prompt", "canonical_solution", "code_prompt",
                               "test", "entry_point"})
SPLITS = ("complete", "instruct")
_OWN = BIGCODEBENCH_KEYS | {"libs", "doc_struct"}


def _detect(keys: frozenset[str]) -> bool:
    return BIGCODEBENCH_KEYS <= keys


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


@loader("bigcodebench", "BigCodeBench: complete/instruct prompts + unittest TestCases", _detect, priority=30)
def convert_bigcodebench(record: Record, options: LoadOptions) -> Problem:
    del options  # no per-format options: the split is chosen by `as_instruct`
    complete = record.require_str("complete_prompt")
    test = record.require_str("test")
    if not unittest_names(test):
        raise record.error("test", "defines no `class TestCases(unittest.TestCase)` with test methods")
    metadata = {"instruct_prompt": record.require_str("instruct_prompt"),
                "code_prompt": record.require_str("code_prompt"), "libs": _libs(record),
                "doc_struct": record.get("doc_struct", str, default=""), "split": "complete"}
    metadata.update({key: value for key, value in record.data.items() if key not in _OWN
                     and isinstance(value, (str, int, float, bool))})
    return Problem(
        task_id=record.require_str("task_id"),
        statement=complete,
        starter_code=complete,
        entry_point=record.require_str("entry_point"),
        tests=Tests(kind=TestKind.UNITTEST, test_code=test),
        source="bigcodebench",
        canonical_solution=complete + "\n" + record.require_str("canonical_solution"),
        metadata=metadata,
    )


def as_instruct(problem: Problem) -> Problem:
    """The instruct split of a BigCodeBench problem: the natural-language prompt, code_prompt
    as starter code (a response that only writes the body continues it). Tests are unchanged.
    DataError naming the task if `problem` is not a BigCodeBench (unittest-kind) problem."""
    instruct, code_prompt = problem.metadata.get("instruct_prompt"), problem.metadata.get("code_prompt")
    if problem.tests.kind is not TestKind.UNITTEST:
        raise DataError(f"task {problem.task_id!r}: the instruct split needs BigCodeBench rows (tests kind "
                        f"'unittest'), got tests kind {problem.tests.kind.value!r}")
    if not isinstance(instruct, str) or not isinstance(code_prompt, str):
        raise DataError(f"task {problem.task_id!r}: not a BigCodeBench row (metadata has no instruct_prompt / "
                        f"code_prompt; load the hub layout, whose columns these are)")
    return dataclasses.replace(problem, statement=instruct, starter_code=code_prompt,
                               metadata={**problem.metadata, "split": "instruct"})
