"""Loader plumbing shared by every format: the registry, raw records and field access.

Owns: `Loader` (one per public format, registered in `LOADERS`), `Record` (one raw row plus
where it came from, "FILE:LINE"), and the typed field getters whose errors name the file,
line and field. Loaders never read raw columns except through these getters.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pgrpo.data.problem import Problem
from pgrpo.errors import DataError
from pgrpo.registry import Registry


@dataclass(frozen=True)
class Record:
    """One raw row. `where` is "FILE:LINE" (JSONL line, or 1-based record index otherwise)."""

    where: str
    data: Mapping[str, Any]
    index: int = 0  # 1-based position in its file / split (ids for formats without one)

    def error(self, field_name: str, message: str) -> DataError:
        return DataError(f"{self.where}: field {field_name!r} {message}")

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def get(self, name: str, types: type | tuple[type, ...], default: Any = None) -> Any:
        """Optional field: `default` when absent or null, else it must have type `types`."""
        value = self.data.get(name)
        if value is None:
            return default
        return _check_type(self, name, value, types)

    def require(self, name: str, types: type | tuple[type, ...]) -> Any:
        """Required field of type `types`; raises DataError naming file, line and field."""
        if name not in self.data:
            raise self.error(name, "is missing")
        value = self.data[name]
        if value is None:
            raise self.error(name, "is null")
        return _check_type(self, name, value, types)

    def get_list(self, name: str, types: type | tuple[type, ...]) -> list[Any]:
        """Optional list field ([] when absent or null) whose every item must have type `types`."""
        items: list[Any] = self.get(name, list, default=[])
        for index, item in enumerate(items):
            _check_type(self, f"{name}[{index}]", item, types)
        return items

    def require_str(self, name: str) -> str:
        value: str = self.require(name, str)
        return value

    def json_field(self, name: str, required: bool = True) -> Any:
        """A field holding JSON text (LCB, APPS) or already-decoded JSON (some mirrors)."""
        value = self.require(name, (str, list, dict)) if required else self.get(name, (str, list, dict))
        if not isinstance(value, str):
            return value
        if not value.strip():
            if required:
                raise self.error(name, "is empty")
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise self.error(name, f"is not valid JSON: {exc.msg} (column {exc.colno})") from exc


def _check_type(record: Record, name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    wanted = types if isinstance(types, tuple) else (types,)
    # bool is an int subclass: never accept it where a number is expected
    if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
        expected = " or ".join(t.__name__ for t in wanted)
        raise record.error(name, f"must be {expected}, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class LoadOptions:
    """Per-format conversion options (filters such as dates live in `load_problems`)."""

    include_challenge_tests: bool = False  # MBPP: also grade on challenge_test_list


@dataclass(frozen=True)
class Loader:
    """One public format: how to recognize its rows and turn one into a Problem.

    detect: called with the first record's keys; True when this format fits.
    priority: higher is tried first (EvalPlus MBPP+ rows also look like MBPP rows).
    convert: Record -> Problem; raises DataError naming file, line and field.
    """

    name: str
    description: str
    detect: Callable[[frozenset[str]], bool]
    convert: Callable[[Record, LoadOptions], Problem]
    priority: int = 0


LOADERS: Registry[Loader] = Registry("problem format")


Convert = Callable[[Record, LoadOptions], Problem]


def loader(name: str, description: str, detect: Callable[[frozenset[str]], bool], *,
           priority: int = 0) -> Callable[[Convert], Convert]:
    """Decorator: register `convert(record, options) -> Problem` as format `name`."""

    def decorator(convert: Convert) -> Convert:
        LOADERS.add(name, Loader(name, description, detect, convert, priority))
        return convert

    return decorator


def first_called_function(asserts: list[str] | tuple[str, ...]) -> str:
    """Name of the first function called in MBPP-style asserts ("" if none)."""
    builtins = {"set", "sorted", "list", "tuple", "abs", "round", "len", "isclose", "str", "int", "float",
                "dict", "frozenset", "math.isclose", "all", "any", "sum", "max", "min"}
    for text in asserts:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in builtins:
                return node.func.id
    return ""


def function_signatures(code: str) -> dict[str, str]:
    """Top-level function name -> `def name(args):` as written in `code`, in definition order
    ({} if `code` does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    return {node.name: f"def {node.name}({ast.unparse(node.args)}):" for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
