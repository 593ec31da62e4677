"""Dataclass configs, YAML recipes and dotted `key=value` overrides.

Owns the generic machinery only: each stage declares its own config dataclasses
(e.g. pgrpo.train.config) and calls `load_config`. Every error names the offending key
(`train.reward.mode`) and, for recipe files, the file. YAML is parsed with safe_load;
nothing in a config file is ever executed. Fields marked `RECIPE_PATH` (or `RECIPE_DIR`, always
a local directory) are paths: written in a recipe they are relative to the recipe's own
directory (`pgrpo.paths.resolve_recipe_path`); given as an override, to the working directory.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from pgrpo.errors import PgrpoError
from pgrpo.paths import resolve_recipe_path

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class ConfigError(PgrpoError, ValueError):
    """A config problem; the message names the key (and file when there is one)."""


# `field(metadata=RECIPE_PATH)`: a local path or a hub id; `RECIPE_DIR`: always a local directory.
RECIPE_PATH: dict[str, Any] = {"recipe_path": "local-or-hub"}
RECIPE_DIR: dict[str, Any] = {"recipe_path": "directory"}


def _resolve_recipe_paths(cls: Any, data: dict[str, Any], recipe_dir: Path) -> dict[str, Any]:
    """Recipe values of path fields, made relative to `recipe_dir` (nested sections too)."""
    out = dict(data)
    for f in dataclasses.fields(cls):
        value = out.get(f.name)
        kind = f.metadata.get("recipe_path")
        if kind is not None and isinstance(value, str):
            out[f.name] = resolve_recipe_path(value, recipe_dir, always_local=kind == "directory")
        section = typing.get_type_hints(cls).get(f.name)
        if isinstance(value, dict) and isinstance(section, type) and dataclasses.is_dataclass(section):
            out[f.name] = _resolve_recipe_paths(section, value, recipe_dir)
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert `value` to annotation `tp`; raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{key}: must be one of {list(args)}, got {value!r}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping for section {tp.__name__}, got {value!r}")
        return build_dataclass(tp, value, prefix=key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def build_dataclass(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{key}: unknown key (known keys here: {known})")
        kwargs[name] = _coerce(value, hints[name], key)
    missing = [
        n for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{prefix + '.' if prefix else ''}{missing[0]}: required key is missing")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{prefix or cls.__name__}: {exc}") from exc


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=VALUE` -> (["a","b","c"], value); VALUE is parsed as YAML (1, true, [1,2], null)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key}: cannot parse value {raw!r}: {exc}") from exc
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with each dotted override set (sections created as needed)."""
    out = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(path[: i + 1])}: is a value, not a section")
            node = child
        node[path[-1]] = value
    return out


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (safe_load); errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Recipe file (optional; its relative paths resolved against its directory) + dotted
    overrides (relative to the working directory) -> validated `cls` instance."""
    data = _resolve_recipe_paths(cls, read_yaml(path), Path(path).parent) if path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    try:
        return build_dataclass(cls, data)
    except ConfigError as exc:
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from exc
        raise


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain data (for saving next to a run)."""
    return dataclasses.asdict(config)
