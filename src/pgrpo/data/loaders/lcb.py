"""LiveCodeBench `code_generation_lite` rows -> Problem.

Owns the `lcb` format: question_id, question_title, question_content, platform,
contest_id, contest_date, starter_code, difficulty, public_test_cases (JSON text),
private_test_cases (base64 -> zlib -> pickle -> JSON text, decoded by
pgrpo.data.loaders.safe_pickle without executing anything), metadata (JSON text with
func_name). `testtype` "functional" -> call cases (one JSON value per input line, output a
JSON value; on `Solution.<func_name>` when the starter code defines `class Solution`),
"stdin" -> stdin/stdout cases. `tests` = public + private (what LCB grades on),
`public_tests` = public only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pgrpo.data.loaders.base import LoadOptions, Record, loader
from pgrpo.data.loaders.safe_pickle import decode_private_tests
from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests, parse_date
from pgrpo.errors import DataError

_TESTTYPE_KIND = {"functional": TestKind.CALL, "stdin": TestKind.STDIO}


def _detect(keys: frozenset[str]) -> bool:
    return "question_id" in keys and bool(keys & {"public_test_cases", "question_content"})


def _parse_json_value(text: str, problem_id: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"problem {problem_id}: {what} is not a JSON value ({exc.msg}): {text[:80]!r}") from exc


def _call_case(case: dict[str, Any], problem_id: str, label: str) -> CallCase:
    lines = [line for line in str(case["input"]).strip("\n").split("\n") if line.strip()]
    inputs = tuple(_parse_json_value(line, problem_id, f"{label} input line {i + 1}")
                   for i, line in enumerate(lines))
    output = _parse_json_value(str(case["output"]), problem_id, f"{label} output")
    return CallCase(inputs=inputs, output=output)


def _cases(record: Record, raw: list[Any], problem_id: str, label: str) -> tuple[TestKind | None, list[Any]]:
    """Test dicts -> (kind, CallCase/StdioCase list); kind None when `raw` is empty."""
    kind: TestKind | None = None
    cases: list[Any] = []
    for index, case in enumerate(raw):
        where = f"{label}[{index}]"
        if not isinstance(case, dict) or "input" not in case or "output" not in case:
            raise record.error(where, "must be an object with 'input' and 'output'")
        testtype = case.get("testtype", "stdin")
        if testtype not in _TESTTYPE_KIND:
            raise record.error(f"{where}.testtype", f"must be one of {sorted(_TESTTYPE_KIND)}, got {testtype!r}")
        case_kind = _TESTTYPE_KIND[testtype]
        if kind is not None and case_kind is not kind:
            raise record.error(f"{where}.testtype", f"mixes {testtype!r} with {kind.value!r} tests")
        kind = case_kind
        if case_kind is TestKind.CALL:
            cases.append(_call_case(case, problem_id, where))
        else:
            cases.append(StdioCase(stdin=str(case["input"]), stdout=str(case["output"])))
    return kind, cases


def _tests(kind: TestKind, cases: list[Any], class_name: str | None) -> Tests:
    if kind is TestKind.CALL:
        return Tests(kind=kind, call_cases=tuple(cases), class_name=class_name)
    return Tests(kind=kind, stdio_cases=tuple(cases))


@loader("lcb", "LiveCodeBench code_generation_lite: stdin or functional tests, compressed private tests",
        _detect, priority=50)
def convert_lcb(record: Record, options: LoadOptions) -> Problem:
    problem_id = str(record.require("question_id", (str, int)))
    statement = record.require_str("question_content")
    starter = record.get("starter_code", str, default="")
    public = record.json_field("public_test_cases", required=False) or []
    if not isinstance(public, list):
        raise record.error("public_test_cases", f"must be a JSON list, got {type(public).__name__}")
    private_raw = record.get("private_test_cases", (str, list), default="")
    private = decode_private_tests(private_raw, problem_id)
    meta = record.json_field("metadata", required=False) or {}
    if not isinstance(meta, dict):
        raise record.error("metadata", f"must be a JSON object, got {type(meta).__name__}")
    public_kind, public_cases = _cases(record, public, problem_id, "public_test_cases")
    private_kind, private_cases = _cases(record, private, problem_id, "private_test_cases")
    kind = public_kind or private_kind
    if kind is None:
        raise record.error("public_test_cases", "and private_test_cases are both empty")
    if private_kind is not None and private_kind is not kind:
        raise record.error("private_test_cases", "test type differs from public_test_cases")
    entry_point, class_name = "", None
    if kind is TestKind.CALL:
        entry_point = meta.get("func_name") or ""
        if not isinstance(entry_point, str) or not entry_point:
            raise record.error("metadata.func_name", "is missing (required for functional tests)")
        if re.search(r"^\s*class\s+Solution\b", starter, re.MULTILINE):
            class_name = "Solution"
    difficulty = record.get("difficulty", str)
    metadata = {key: record.data[key] for key in ("question_title", "platform", "contest_id")
                if isinstance(record.data.get(key), (str, int))}
    return Problem(
        task_id=problem_id,
        statement=statement,
        starter_code=starter,
        entry_point=entry_point,
        tests=_tests(kind, public_cases + private_cases, class_name),
        public_tests=_tests(kind, public_cases, class_name) if public_cases else None,
        source="livecodebench",
        difficulty=difficulty.lower() if difficulty else None,
        contest_date=parse_date(record.data.get("contest_date"), "contest_date", record.where),
        metadata=metadata,
    )
