"""Loader plumbing: the `LOADERS` registry of formats and `Record` (one raw row, its "FILE:LINE"
and typed field getters whose errors name the file, line and field)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pgrpo.data.problem import Problem
from pgrpo.errors import DataError
from pgrpo.registry import Registry

Types = type | tuple[type, ...]


def _has_type(value: Any, types: Types) -> bool:
    wanted = types if isinstance(types, tuple) else (types,)
    # bool is an int subclass: never accept it where a number is expected
    return isinstance(value, wanted) and (bool in wanted or not isinstance(value, bool))


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

    def _checked(self, name: str, value: Any, types: Types) -> Any:
        if not _has_type(value, types):
            expected = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise self.error(name, f"must be {expected}, got {type(value).__name__}")
        return value

    def get(self, name: str, types: Types = str, default: Any = None) -> Any:
        """Optional field: `default` when absent or null, else it must have type `types`."""
        value = self.data.get(name)
        return default if value is None else self._checked(name, value, types)

    def require(self, name: str, types: Types = str) -> Any:
        if self.data.get(name) is None:
            raise self.error(name, "is null" if name in self.data else "is missing")
        return self._checked(name, self.data[name], types)

    def get_list(self, name: str, types: Types) -> list[Any]:
        """Optional list field ([] when absent or null) whose every item must have type `types`."""
        items: list[Any] = self.get(name, list, default=[])
        for index, item in enumerate(items):
            self._checked(f"{name}[{index}]", item, types)
        return items

    def pick(self, names: Iterable[str], types: Types) -> dict[str, Any]:
        """The fields among `names` holding a value of `types` (metadata kept as is)."""
        return {name: self.data[name] for name in names if _has_type(self.data.get(name), types)}

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


@dataclass(frozen=True)
class LoadOptions:
    """Per-format conversion options (filters such as dates live in `load_problems`)."""

    include_challenge_tests: bool = False  # MBPP: also grade on challenge_test_list


Convert = Callable[[Record, LoadOptions], Problem]


@dataclass(frozen=True)
class Loader:
    """One public format. `detect(first record's keys)` says it fits; a higher `priority` is tried
    first (EvalPlus MBPP+ rows also look like MBPP rows); `convert` raises DataError naming the field."""

    name: str
    description: str
    detect: Callable[[frozenset[str]], bool]
    convert: Convert
    priority: int = 0


LOADERS: Registry[Loader] = Registry("problem format")


def has_keys(required: Iterable[str], any_of: Iterable[str] = (),
             none_of: Iterable[str] = ()) -> Callable[[frozenset[str]], bool]:
    """A `detect`: the keys hold every `required` one, one of `any_of` (if any) and none of `none_of`."""
    need, one, never = frozenset(required), frozenset(any_of), frozenset(none_of)

    def detect(keys: frozenset[str]) -> bool:
        return need <= keys and (not one or bool(one & keys)) and not never & keys

    return detect


def loader(name: str, description: str, detect: Callable[[frozenset[str]], bool], *,
           priority: int = 0) -> Callable[[Convert], Convert]:
    """Decorator: register `convert(record, options) -> Problem` as format `name`."""

    def decorator(convert: Convert) -> Convert:
        LOADERS.add(name, Loader(name, description, detect, convert, priority))
        return convert

    return decorator
