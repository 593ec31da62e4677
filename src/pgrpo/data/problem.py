"""`Problem`, its `Tests` and test cases: the one normalized problem type every stage reads (and the
one definition of pgrpo's JSONL format, pgrpo.data.schema); `parse_date`, the one reader of dates."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pgrpo.errors import DataError


def parse_date(value: Any, field_name: str, where: str = "") -> dt.date | None:
    """ISO date/datetime text ("Z" ok), a date(time) or epoch milliseconds (parquet) -> date; None or
    "" -> None; anything else a DataError "WHERE: field 'NAME' is not an ISO date"."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc).date()
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
        except ValueError:
            pass
    prefix = f"{where}: " if where else ""
    raise DataError(f"{prefix}field {field_name!r} is not an ISO date (YYYY-MM-DD): {value!r}")


_FORBID_UNKNOWN = {"extra": "forbid"}  # pydantic (pgrpo.data.schema): unknown fields fail loudly


class TestKind(str, enum.Enum):
    """How a problem's tests are expressed (decides the sandbox harness)."""

    __test__ = False  # not a pytest class

    HUMANEVAL = "humaneval"  # test code defining check(candidate); harness calls check(entry_point)
    ASSERTS = "asserts"  # MBPP-style list of assert statements (+ optional setup code)
    CALL = "call"  # call-based (inputs -> expected output) on a function or Solution method
    STDIO = "stdio"  # whole program: stdin -> expected stdout
    UNITTEST = "unittest"  # test code defining `class TestCases(unittest.TestCase)` (BigCodeBench)


@dataclass(frozen=True)
class CallCase:
    """`entry_point(*inputs) == output`; with `Tests.outputs_from_canonical` (EvalPlus ships inputs
    only) `output` is None and the canonical solution's output is expected."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_UNKNOWN

    inputs: tuple[Any, ...]
    output: Any = None


@dataclass(frozen=True)
class StdioCase:
    """One stdin/stdout test for a whole program."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_UNKNOWN

    stdin: str
    stdout: str


@dataclass(frozen=True)
class Tests:
    """A problem's test suite. Exactly the fields of its `kind` are meaningful."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_UNKNOWN
    __test__ = False

    kind: TestKind
    test_code: str = ""  # HUMANEVAL: defines check(candidate); UNITTEST: defines class TestCases
    asserts: tuple[str, ...] = ()  # ASSERTS
    setup_code: str = ""  # ASSERTS / HUMANEVAL: run before the tests (imports, helpers)
    call_cases: tuple[CallCase, ...] = ()  # CALL
    stdio_cases: tuple[StdioCase, ...] = ()  # STDIO
    class_name: str | None = None  # CALL: LeetCode-style `class Solution` owning the method
    atol: float | None = None  # CALL: absolute tolerance for floats (EvalPlus `atol`)
    outputs_from_canonical: bool = False  # CALL: expected outputs come from the canonical solution

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TestKind(self.kind))

    @property
    def count(self) -> int:
        """Test cases (HUMANEVAL's test code counts one; UNITTEST: its TestCases methods)."""
        if self.kind is TestKind.UNITTEST:
            from pgrpo.data.unittest_suite import unittest_names

            return len(unittest_names(self.test_code))
        cases = {TestKind.ASSERTS: self.asserts, TestKind.CALL: self.call_cases,
                 TestKind.STDIO: self.stdio_cases}
        return len(cases[self.kind]) if self.kind in cases else 1  # HUMANEVAL: one check(candidate)


@dataclass(frozen=True)
class Problem:
    """A programming problem. `starter_code`: what a human-eval-style completion continues, or the
    signature / class skeleton a solution keeps; `entry_point`: what the tests call ("" for stdio)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_UNKNOWN

    kind: ClassVar[str] = "code"  # picks its task type (pgrpo.verify.TASK_TYPES)
    task_id: str
    statement: str  # what the model is asked (natural language, may include the signature)
    tests: Tests
    starter_code: str = ""
    entry_point: str = ""
    source: str = ""
    difficulty: str | None = None  # lower-case: easy/medium/hard (LCB), introductory/... (APPS)
    contest_date: dt.date | None = None  # LiveCodeBench contest date (date windows)
    canonical_solution: str | None = None  # a self-contained program that passes the tests
    public_tests: Tests | None = None  # examples shown to the model (LiveCodeBench public tests)
    metadata: dict[str, Any] = field(default_factory=dict)  # anything else (platform, EvalPlus base_count)

    @property
    def is_function_task(self) -> bool:
        return self.tests.kind is not TestKind.STDIO
