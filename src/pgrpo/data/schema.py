"""pgrpo's own JSONL problem format: Problem <-> plain dict, and its JSON schema.

Owns: `problem_to_dict`, `problem_from_dict` (exact round trip), `PROBLEM_SCHEMA_PATH`,
`problem_schema()`, `validate_problem_dict()`. The format is documented in
docs/problem-format.md. Test values (call inputs/outputs, metadata) are JSON values; a
Python tuple or set inside them is written as {"__tuple__": [...]} / {"__set__": [...]}
so it reads back as the same type. Dates are ISO strings ("2024-05-01").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
from pgrpo.errors import DataError

PROBLEM_SCHEMA_PATH = Path(__file__).with_name("problem.schema.json")
_TESTS_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Tests) if f.name != "kind"}
_PROBLEM_FIELDS = [f.name for f in dataclasses.fields(Problem)]
_TAGS = {"__tuple__": tuple, "__set__": set}
# the field each kind is defined by: always written, even when empty
_PRIMARY = {TestKind.HUMANEVAL: "test_code", TestKind.ASSERTS: "asserts", TestKind.CALL: "call_cases",
            TestKind.STDIO: "stdio_cases"}


# ---------------------------------------------------------------- values
def encode_value(value: Any, where: str) -> Any:
    """A Python test value -> JSON-ready data (tuples/sets tagged); DataError if impossible."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__tuple__": [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, (set, frozenset)):
        items = [encode_value(v, f"{where}[]") for v in value]
        return {"__set__": sorted(items, key=repr)}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise DataError(f"field {where!r}: dict key {key!r} is not a string (not representable)")
            out[key] = encode_value(item, f"{where}.{key}")
        return out
    raise DataError(f"field {where!r}: {type(value).__name__} value is not representable in JSON")


def decode_value(value: Any) -> Any:
    """Inverse of `encode_value`."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key in _TAGS and isinstance(inner, list):
                return _TAGS[key](decode_value(v) for v in inner)
        return {k: decode_value(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- to dict
def _tests_to_dict(tests: Tests, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": tests.kind.value}
    for name, default in _TESTS_DEFAULTS.items():
        value = getattr(tests, name)
        if value == default and type(value) is type(default) and name != _PRIMARY[tests.kind]:
            continue
        if name == "asserts":
            value = list(value)
        elif name == "call_cases":
            value = [{"inputs": [encode_value(v, f"{where}.call_cases[{i}].inputs[{j}]")
                                 for j, v in enumerate(case.inputs)],
                      "output": encode_value(case.output, f"{where}.call_cases[{i}].output")}
                     for i, case in enumerate(value)]
        elif name == "stdio_cases":
            value = [{"stdin": case.stdin, "stdout": case.stdout} for case in value]
        out[name] = value
    return out


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """Problem -> a JSON-ready dict in pgrpo's format (every top-level field present)."""
    try:
        return _problem_to_dict(problem)
    except DataError as exc:
        raise DataError(f"problem {problem.task_id}: {exc}") from exc


def _problem_to_dict(problem: Problem) -> dict[str, Any]:
    return {
        "task_id": problem.task_id,
        "statement": problem.statement,
        "starter_code": problem.starter_code,
        "entry_point": problem.entry_point,
        "source": problem.source,
        "difficulty": problem.difficulty,
        "contest_date": problem.contest_date.isoformat() if problem.contest_date else None,
        "canonical_solution": problem.canonical_solution,
        "tests": _tests_to_dict(problem.tests, "tests"),
        "public_tests": (_tests_to_dict(problem.public_tests, "public_tests")
                         if problem.public_tests is not None else None),
        "metadata": encode_value(dict(problem.metadata), "metadata"),
    }


# ---------------------------------------------------------------- from dict
class _Reader:
    """Typed access to a dict with errors "WHERE: field 'a.b[2]' ..."."""

    def __init__(self, where: str) -> None:
        self.prefix = f"{where}: " if where else ""

    def fail(self, name: str, message: str) -> DataError:
        return DataError(f"{self.prefix}field {name!r} {message}")

    def get(self, data: dict[str, Any], key: str, types: type | tuple[type, ...], name: str,
            default: Any = dataclasses.MISSING) -> Any:
        if key not in data or (data[key] is None and default is not dataclasses.MISSING):
            if default is dataclasses.MISSING:
                raise self.fail(name, "is missing")
            return default
        value = data[key]
        wanted = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            expected = " or ".join(t.__name__ for t in wanted)
            raise self.fail(name, f"must be {expected}, got {type(value).__name__}")
        return value

    def check_keys(self, data: dict[str, Any], known: list[str], name: str) -> None:
        for key in data:
            if key not in known:
                where = f"{name}.{key}" if name else key
                raise self.fail(where, f"is not a known field (known: {', '.join(known)})")


def _tests_from_dict(data: Any, r: _Reader, name: str) -> Tests:
    if not isinstance(data, dict):
        raise r.fail(name, f"must be an object, got {type(data).__name__}")
    r.check_keys(data, ["kind", *_TESTS_DEFAULTS], name)
    kind_text = r.get(data, "kind", str, f"{name}.kind")
    try:
        kind = TestKind(kind_text)
    except ValueError:
        raise r.fail(f"{name}.kind", f"must be one of {[k.value for k in TestKind]}, got {kind_text!r}") from None
    asserts = r.get(data, "asserts", list, f"{name}.asserts", default=[])
    for i, text in enumerate(asserts):
        if not isinstance(text, str):
            raise r.fail(f"{name}.asserts[{i}]", "must be a string")
    call_cases = []
    for i, case in enumerate(r.get(data, "call_cases", list, f"{name}.call_cases", default=[])):
        field = f"{name}.call_cases[{i}]"
        if not isinstance(case, dict):
            raise r.fail(field, "must be an object")
        r.check_keys(case, ["inputs", "output"], field)
        inputs = r.get(case, "inputs", list, f"{field}.inputs")
        call_cases.append(CallCase(inputs=tuple(decode_value(v) for v in inputs),
                                   output=decode_value(case.get("output"))))
    stdio_cases = []
    for i, case in enumerate(r.get(data, "stdio_cases", list, f"{name}.stdio_cases", default=[])):
        field = f"{name}.stdio_cases[{i}]"
        if not isinstance(case, dict):
            raise r.fail(field, "must be an object")
        r.check_keys(case, ["stdin", "stdout"], field)
        stdio_cases.append(StdioCase(stdin=r.get(case, "stdin", str, f"{field}.stdin"),
                                     stdout=r.get(case, "stdout", str, f"{field}.stdout")))
    atol = r.get(data, "atol", (int, float), f"{name}.atol", default=None)
    return Tests(
        kind=kind,
        test_code=r.get(data, "test_code", str, f"{name}.test_code", default=""),
        asserts=tuple(asserts),
        setup_code=r.get(data, "setup_code", str, f"{name}.setup_code", default=""),
        call_cases=tuple(call_cases),
        stdio_cases=tuple(stdio_cases),
        class_name=r.get(data, "class_name", str, f"{name}.class_name", default=None),
        atol=float(atol) if atol is not None else None,
        outputs_from_canonical=r.get(data, "outputs_from_canonical", bool, f"{name}.outputs_from_canonical",
                                     default=False),
    )


def problem_from_dict(data: dict[str, Any], where: str = "") -> Problem:
    """pgrpo-format dict -> Problem. Errors: DataError "WHERE: field 'tests.kind' ..."."""
    r = _Reader(where)
    if not isinstance(data, dict):
        raise DataError(f"{r.prefix}expected a JSON object, got {type(data).__name__}")
    r.check_keys(data, _PROBLEM_FIELDS, "")
    date_text = r.get(data, "contest_date", str, "contest_date", default=None)
    try:
        contest_date = dt.date.fromisoformat(date_text[:10]) if date_text else None
    except ValueError:
        raise r.fail("contest_date", f"is not an ISO date (YYYY-MM-DD): {date_text!r}") from None
    public = data.get("public_tests")
    return Problem(
        task_id=r.get(data, "task_id", str, "task_id"),
        statement=r.get(data, "statement", str, "statement"),
        tests=_tests_from_dict(r.get(data, "tests", dict, "tests"), r, "tests"),
        starter_code=r.get(data, "starter_code", str, "starter_code", default=""),
        entry_point=r.get(data, "entry_point", str, "entry_point", default=""),
        source=r.get(data, "source", str, "source", default=""),
        difficulty=r.get(data, "difficulty", str, "difficulty", default=None),
        contest_date=contest_date,
        canonical_solution=r.get(data, "canonical_solution", str, "canonical_solution", default=None),
        public_tests=_tests_from_dict(public, r, "public_tests") if public is not None else None,
        metadata=decode_value(r.get(data, "metadata", dict, "metadata", default={})),
    )


# ---------------------------------------------------------------- schema
@lru_cache(maxsize=1)
def problem_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of one pgrpo-format problem."""
    return json.loads(PROBLEM_SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_problem_dict(data: dict[str, Any], where: str = "") -> None:
    """Validate against the JSON schema (needs `jsonschema`); DataError naming the field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(problem_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        field = ".".join(str(p) for p in first.absolute_path) or "(record)"
        prefix = f"{where}: " if where else ""
        raise DataError(f"{prefix}field {field!r}: {first.message}")
