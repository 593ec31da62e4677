"""The contest formats: `lcb` (LiveCodeBench code_generation_lite; private tests decoded by
safe_pickle), `apps` (APPS / TACO) and `codecontests` (DeepMind CodeContests, hub layout); each
problem has call cases on its entry point (or `Solution` method) or stdin/stdout cases."""

from __future__ import annotations

import json
import re
from typing import Any

from pgrpo.data.loaders.base import LoadOptions, Record, has_keys, loader
from pgrpo.data.loaders.safe_pickle import decode_private_tests
from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests, parse_date
from pgrpo.errors import DataError

_TESTTYPE_KIND = {"functional": TestKind.CALL, "stdin": TestKind.STDIO}
PYTHON3 = 3
SOURCES = ("unknown", "codechef", "codeforces", "hackerearth", "codejam", "atcoder", "aizu")
# the hub's Difficulty enum: 0-6 named, then 7.. the Codeforces problem letters A..V
DIFFICULTIES = ("unknown", "easy", "medium", "hard", "harder", "hardest", "external",
                *(chr(ord("a") + i) for i in range(22)))


def _tests(kind: TestKind, cases: list[Any], class_name: str | None = None) -> Tests:
    if kind is TestKind.CALL:
        return Tests(kind=kind, call_cases=tuple(cases), class_name=class_name)
    return Tests(kind=kind, stdio_cases=tuple(cases))


def _lower(record: Record, name: str) -> str | None:
    value = record.get(name)
    return value.lower() if value else None


def _json_value(text: str, problem_id: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"problem {problem_id}: {what} is not a JSON value ({exc.msg}): {text[:80]!r}") from exc


def _lcb_cases(record: Record, raw: list[Any], problem_id: str,
               label: str) -> tuple[TestKind | None, list[Any]]:
    """Test dicts -> (kind, CallCase/StdioCase list); kind None when `raw` is empty. A functional
    case's input is one JSON value per line (the arguments), its output one JSON value."""
    kind: TestKind | None = None
    cases: list[Any] = []
    for index, case in enumerate(raw):
        where = f"{label}[{index}]"
        if not isinstance(case, dict) or "input" not in case or "output" not in case:
            raise record.error(where, "must be an object with 'input' and 'output'")
        testtype = case.get("testtype", "stdin")
        if testtype not in _TESTTYPE_KIND:
            raise record.error(f"{where}.testtype", f"must be one of {sorted(_TESTTYPE_KIND)}, got {testtype!r}")
        if kind is not None and _TESTTYPE_KIND[testtype] is not kind:
            raise record.error(f"{where}.testtype", f"mixes {testtype!r} with {kind.value!r} tests")
        kind = _TESTTYPE_KIND[testtype]
        if kind is TestKind.STDIO:
            cases.append(StdioCase(stdin=str(case["input"]), stdout=str(case["output"])))
            continue
        lines = [line for line in str(case["input"]).strip("\n").split("\n") if line.strip()]
        inputs = tuple(_json_value(line, problem_id, f"{where} input line {i + 1}")
                       for i, line in enumerate(lines))
        output = _json_value(str(case["output"]), problem_id, f"{where} output")
        cases.append(CallCase(inputs=inputs, output=output))
    return kind, cases


@loader("lcb", "LiveCodeBench code_generation_lite: stdin or functional tests, compressed private tests",
        has_keys(["question_id"], any_of=["public_test_cases", "question_content"]), priority=50)
def convert_lcb(record: Record, options: LoadOptions) -> Problem:
    """`tests` = public + private (what LCB grades on), `public_tests` = public only."""
    problem_id = str(record.require("question_id", (str, int)))
    statement = record.require("question_content")
    starter = record.get("starter_code", default="")
    public = record.json_field("public_test_cases", required=False) or []
    if not isinstance(public, list):
        raise record.error("public_test_cases", f"must be a JSON list, got {type(public).__name__}")
    private = decode_private_tests(record.get("private_test_cases", (str, list), default=""), problem_id)
    meta = record.json_field("metadata", required=False) or {}
    if not isinstance(meta, dict):
        raise record.error("metadata", f"must be a JSON object, got {type(meta).__name__}")
    public_kind, public_cases = _lcb_cases(record, public, problem_id, "public_test_cases")
    private_kind, private_cases = _lcb_cases(record, private, problem_id, "private_test_cases")
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
    return Problem(
        task_id=problem_id,
        statement=statement,
        starter_code=starter,
        entry_point=entry_point,
        tests=_tests(kind, public_cases + private_cases, class_name),
        public_tests=_tests(kind, public_cases, class_name) if public_cases else None,
        source="livecodebench",
        difficulty=_lower(record, "difficulty"),
        contest_date=parse_date(record.data.get("contest_date"), "contest_date", record.where),
        metadata=record.pick(("question_title", "platform", "contest_id"), (str, int)),
    )


def _as_text(value: Any) -> str:
    return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)


@loader("apps", "APPS / TACO: input_output JSON (stdin/stdout, or fn_name call cases)",
        has_keys(["input_output", "question"]), priority=5)
def convert_apps(record: Record, options: LoadOptions) -> Problem:
    """With `fn_name`, call cases (each input the argument list; outputs unwrapped when every one is a
    one-element list, as APPS wraps them), else stdio. TACO rows have no problem_id: "taco/<row>"."""
    is_taco = not record.has("problem_id")
    task_id = f"taco/{record.index - 1}" if is_taco else str(record.require("problem_id", (str, int)))
    statement = record.require("question")
    starter = record.get("starter_code", default="")
    io_spec = record.json_field("input_output")
    if not isinstance(io_spec, dict):
        raise record.error("input_output", f"must be a JSON object, got {type(io_spec).__name__}")
    inputs, outputs = io_spec.get("inputs"), io_spec.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise record.error("input_output", "must have lists 'inputs' and 'outputs'")
    if len(inputs) != len(outputs):
        raise record.error("input_output", f"has {len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise record.error("input_output", "has no test cases")
    fn_name = io_spec.get("fn_name")
    if fn_name is not None and not isinstance(fn_name, str):
        raise record.error("input_output.fn_name", f"must be a string, got {type(fn_name).__name__}")
    if fn_name:
        unwrap = all(isinstance(out, list) and len(out) == 1 for out in outputs)
        for index, args in enumerate(inputs):
            if not isinstance(args, list):
                raise record.error(f"input_output.inputs[{index}]",
                                   "must be a list of arguments for fn_name problems")
        tests = _tests(TestKind.CALL, [CallCase(inputs=tuple(args), output=out[0] if unwrap else out)
                                       for args, out in zip(inputs, outputs)],
                       "Solution" if "class Solution" in starter else None)
    else:
        tests = _tests(TestKind.STDIO, [StdioCase(stdin=_as_text(i), stdout=_as_text(o))
                                        for i, o in zip(inputs, outputs)])
    solutions = record.json_field("solutions", required=False) or []
    canonical = solutions[0] if isinstance(solutions, list) and solutions and isinstance(solutions[0], str) else None
    return Problem(
        task_id=task_id,
        statement=statement,
        starter_code=starter,
        entry_point=fn_name or "",
        tests=tests,
        source="taco" if is_taco else "apps",
        difficulty=_lower(record, "difficulty"),
        canonical_solution=canonical,
        metadata=record.pick(("url", "name", "source"), str),
    )


def _enum(record: Record, name: str, names: tuple[str, ...]) -> str | None:
    value = record.get(name, (int, str))
    if isinstance(value, int):
        return names[value] if 0 <= value < len(names) else str(value)
    return value.lower() if value else None


def _stdio_cases(record: Record, name: str) -> list[StdioCase]:
    tests = record.get(name, dict, default={})
    inputs, outputs = tests.get("input") or [], tests.get("output") or []
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise record.error(name, "must hold lists 'input' and 'output' of the same length")
    return [StdioCase(stdin=str(i), stdout=str(o)) for i, o in zip(inputs, outputs)]


@loader("codecontests", "DeepMind CodeContests: stdin/stdout, public + private + generated tests",
        has_keys(["name", "description", "public_tests", "private_tests"]), priority=10)
def convert_codecontests(record: Record, options: LoadOptions) -> Problem:
    """Tests: public + private + generated, identical cases once; the reference is the first Python 3
    solution; problems reading or writing named files cannot be graded on stdio and are rejected."""
    name = record.require("name")
    for field_name in ("input_file", "output_file"):
        if record.get(field_name, default=""):
            raise record.error(field_name, "is set: the problem reads/writes files, not stdin/stdout")
    fields = ("public_tests", "private_tests", "generated_tests")
    cases = list(dict.fromkeys(case for field_name in fields for case in _stdio_cases(record, field_name)))
    if not cases:
        raise record.error("public_tests", "and private_tests / generated_tests hold no test cases")
    public = _stdio_cases(record, "public_tests")
    solutions = record.get("solutions", dict, default={})
    languages, texts = solutions.get("language") or [], solutions.get("solution") or []
    python3 = (text for language, text in zip(languages, texts)
               if language == PYTHON3 and isinstance(text, str) and text.strip())
    metadata: dict[str, Any] = {"platform": _enum(record, "source", SOURCES)}
    metadata.update(record.pick(("cf_rating", "cf_contest_id", "cf_index", "memory_limit_bytes"), (int, str)))
    limit = record.data.get("time_limit")
    if isinstance(limit, dict) and isinstance(limit.get("seconds"), (int, float)):
        metadata["time_limit_s"] = float(limit["seconds"]) + float(limit.get("nanos") or 0) / 1e9
    return Problem(
        task_id=name,
        statement=record.require("description"),
        tests=_tests(TestKind.STDIO, cases),
        public_tests=_tests(TestKind.STDIO, public) if public else None,
        source="codecontests",
        difficulty=_enum(record, "difficulty", DIFFICULTIES),
        canonical_solution=next(python3, None),
        metadata=metadata,
    )
