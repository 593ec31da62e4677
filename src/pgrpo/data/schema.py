"""pgrpo's JSONL problem format (docs/problem-format.md): `problem_to_dict` / `problem_from_dict`
(an exact round trip; rows validated by pydantic against the `Problem` dataclasses, errors naming the
field) and `problem_schema()`. Tuples and sets in test values are tagged `{"__tuple__": [...]}`."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests, parse_date
from pgrpo.errors import DataError

_TESTS_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Tests) if f.name != "kind"}
_TAGS = {"__tuple__": tuple, "__set__": set}
# the field each kind is defined by: always written, even when empty
_PRIMARY = {TestKind.HUMANEVAL: "test_code", TestKind.ASSERTS: "asserts", TestKind.CALL: "call_cases",
            TestKind.STDIO: "stdio_cases", TestKind.UNITTEST: "test_code"}
# a nested object's type, by the field holding it (names the known fields in errors)
_TYPE_AT: dict[str, type] = {"tests": Tests, "public_tests": Tests, "call_cases": CallCase,
                             "stdio_cases": StdioCase}


def encode_value(value: Any, where: str) -> Any:
    """A Python test value -> JSON-ready data (tuples/sets tagged); DataError if impossible."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, (set, frozenset)):
        return {"__set__": sorted((encode_value(v, f"{where}[]") for v in value), key=repr)}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise DataError(f"field {where!r}: dict key {key!r} is not a string (not representable)")
            out[key] = encode_value(item, f"{where}.{key}")
        return out
    raise DataError(f"field {where!r}: {type(value).__name__} value is not representable in JSON")


def decode_value(value: Any, where: str = "value") -> Any:
    """Inverse of `encode_value`; DataError naming the field `where` if a tagged set holds an
    unhashable item (a list, a dict, a set)."""
    if isinstance(value, list):
        return [decode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key in _TAGS and isinstance(inner, list):
                items = [decode_value(v, f"{where}.{key}[{i}]") for i, v in enumerate(inner)]
                try:
                    return _TAGS[key](items)
                except TypeError:
                    bad = next(type(v).__name__ for v in items if not _hashable(v))
                    raise DataError(f"field {where!r}: a {key} item must be hashable, got {bad}") from None
        return {k: decode_value(v, f"{where}.{k}" if where else k) for k, v in value.items()}
    return value


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _tests_to_dict(tests: Tests, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": tests.kind.value}
    for name, default in _TESTS_DEFAULTS.items():
        value = getattr(tests, name)
        if value == default and type(value) is type(default) and name != _PRIMARY[tests.kind]:
            continue
        if name == "call_cases":
            value = [{"inputs": encode_value(list(case.inputs), f"{where}.call_cases[{i}].inputs"),
                      "output": encode_value(case.output, f"{where}.call_cases[{i}].output")}
                     for i, case in enumerate(value)]
        elif isinstance(value, tuple):  # asserts, stdio_cases
            value = [dataclasses.asdict(item) if isinstance(item, StdioCase) else item for item in value]
        out[name] = value
    return out


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """Problem -> a JSON-ready dict in pgrpo's format (every top-level field present)."""
    try:
        out = {f.name: getattr(problem, f.name) for f in dataclasses.fields(Problem)}
        out.update(
            contest_date=problem.contest_date.isoformat() if problem.contest_date else None,
            tests=_tests_to_dict(problem.tests, "tests"),
            public_tests=_tests_to_dict(problem.public_tests, "public_tests") if problem.public_tests else None,
            metadata=encode_value(dict(problem.metadata), "metadata"),
        )
    except DataError as exc:
        raise DataError(f"problem {problem.task_id}: {exc}") from exc
    return out


@lru_cache(maxsize=1)
def _adapter() -> Any:
    from pydantic import TypeAdapter  # lazy: the runtime types stay import-light

    return TypeAdapter(Problem)


def _without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if v is not None}
    for name in ("tests", "public_tests"):
        if isinstance(out.get(name), dict):
            out[name] = {k: v for k, v in out[name].items() if v is not None}
    return out


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _error_text(error: Any) -> str:
    """One pydantic error -> "field 'tests.asserts[2]' must be a valid string, got int 3"."""
    loc = tuple(error["loc"])
    if error["type"] in ("missing", "missing_argument"):
        return f"field {_field_path(loc)!r} is missing"
    if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        parent = next((p for p in reversed(loc[:-1]) if isinstance(p, str)), "")
        known = [f.name for f in dataclasses.fields(_TYPE_AT.get(parent, Problem))]
        return f"field {_field_path(loc)!r} is not a known field (known: {', '.join(known)})"
    message = str(error["msg"])
    message = "must " + message.removeprefix("Input should ") if message.startswith("Input should ") else message
    value = error["input"]
    shown = f" {value!r}"[:60] if isinstance(value, (str, int, float)) else ""
    return f"field {_field_path(loc) or '(record)'!r} {message}, got {type(value).__name__}{shown}"


def problem_from_dict(data: dict[str, Any], where: str = "") -> Problem:
    """pgrpo-format dict -> Problem. Errors: DataError "WHERE: field 'tests.kind' ..."."""
    from pydantic import ValidationError

    prefix = f"{where}: " if where else ""
    if not isinstance(data, dict):
        raise DataError(f"{prefix}expected a JSON object, got {type(data).__name__}")
    try:
        row = decode_value(_without_nulls(data), "")
    except DataError as exc:
        raise DataError(f"{prefix}{exc}") from None
    if "contest_date" in row:
        row["contest_date"] = parse_date(row["contest_date"], "contest_date", where)
    try:
        problem: Problem = _adapter().validate_python(row)
    except ValidationError as exc:
        raise DataError(prefix + _error_text(exc.errors()[0])) from None
    if not problem.task_id.strip():
        raise DataError(f"{prefix}field 'task_id' must be a non-empty string")
    primary = _PRIMARY[problem.tests.kind]
    if primary not in row["tests"]:
        raise DataError(f"{prefix}field 'tests.{primary}' is missing (a '{problem.tests.kind.value}' test suite is "
                        f"defined by it)")
    if problem.tests.kind is TestKind.UNITTEST and not problem.tests.count:
        raise DataError(f"{prefix}field 'tests.test_code' defines no `class TestCases` with test methods (a "
                        f"'unittest' test suite is run and counted from them)")
    return problem


@lru_cache(maxsize=1)
def problem_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of one pgrpo-format problem, generated from `Problem`."""
    schema: dict[str, Any] = _adapter().json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": "pgrpo problem", "description": "One line of pgrpo's JSONL problem format."}
