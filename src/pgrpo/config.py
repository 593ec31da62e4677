"""Config models (pydantic), YAML recipes (safe_load: nothing executed) and dotted `key=value` overrides:
`load_config`. Every error is a ConfigError naming file:line (for recipe keys), the dotted key and, for an
unknown key, the closest known ones. `RECIPE_PATH` / `RECIPE_DIR` fields written in a recipe are
relative to the recipe's directory; given as overrides, to the working directory.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError

from pgrpo.errors import PgrpoError
from pgrpo.paths import resolve_recipe_path

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Lines = dict[tuple[Any, ...], int]


class ConfigError(PgrpoError, ValueError):
    """A config problem; the message names the key (and file and line when there is one)."""


class ConfigModel(BaseModel):
    """A recipe section: unknown keys rejected, YAML types taken as they are (no "3" -> 3). A validator names
    another key than its section's by starting its message with it (`raise ValueError("path: ...")`)."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class Flag:
    """`Annotated[T, Flag(...)]`: how an OptionsModel field is given on the command line where that is not
    `--field-name VALUE` (a bool field is a switch: `--no-x` stores False). `repeat`: given once per value;
    `cli=False`: the command sets the field itself and `name` only names it in errors."""

    name: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False
    cli: bool = True


def _split_commas(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _key_values(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    out: dict[str, str] = {}
    for item in value:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r}: expected KEY=VALUE")
        out[key.strip()] = raw
    return out


def _key_yaml_values(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for key, raw in _key_values(value).items():
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"{key}={raw!r}: cannot parse value: {exc}") from None
    return out


# `Annotated[list[str], COMMA_LIST]`: a flag's text "a, b" is ["a", "b"]
COMMA_LIST = BeforeValidator(_split_commas)
# `Annotated[dict[str, str], KEY_VALUES]`: a repeatable flag's texts ["k=v", ...] are {"k": "v"};
# KEY_YAML_VALUES parses each value as YAML (1, true, [1, 2])
KEY_VALUES = BeforeValidator(_key_values)
KEY_YAML_VALUES = BeforeValidator(_key_yaml_values)
OM = TypeVar("OM", bound="OptionsModel")


class OptionsModel(ConfigModel):
    """A command's options, declared once: `add_arguments` makes each field a flag (its type, required or
    not, `Field(description=...)` as help; the default stays the model's) and `from_args` validates the flags
    given; lax types (a flag's text); a ConfigError names the field's flag (`--max-tokens`)."""

    model_config = ConfigDict(strict=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            flags = {name: self.flag(name).name or "" for name in type(self).model_fields}
            raise config_error(exc, data, type(self), flags=flags) from None

    @classmethod
    def flag(cls, name: str) -> Flag:
        """The field's Flag, its `name` filled in unless declared: `--field-name`, or `--no-field-name` for a
        bool that defaults to true (the flag turns it off)."""
        info = cls.model_fields[name]
        flag = next((m for m in info.metadata if isinstance(m, Flag)), Flag())
        negated = "no-" if info.annotation is bool and info.default is True else ""
        return dataclasses.replace(flag, name=flag.name or f"--{negated}{name.replace('_', '-')}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per field; a flag not given leaves the field's default to the model."""
        for name, info in cls.model_fields.items():
            flag = cls.flag(name)
            if not flag.cli:
                continue
            kind = _flag_type(info.annotation)
            options: dict[str, Any] = {
                "dest": name, "default": argparse.SUPPRESS, "required": info.is_required(),
                "help": info.description and info.description.replace("%", "%%"),
            }
            if kind is bool:
                options["action"] = "store_false" if info.default else "store_true"
            else:
                metavar = flag.metavar or str(flag.name).lstrip("-").replace("-", "_").upper()
                options |= {
                    "type": kind if kind in (int, float) else str, "choices": flag.choices,
                    "metavar": None if flag.choices else metavar, "action": "append" if flag.repeat else None,
                }
            parser.add_argument(str(flag.name), **options)

    @classmethod
    def from_args(cls: type[OM], args: argparse.Namespace, **values: Any) -> OM:
        """The model of the flags in `args` (`add_arguments`') and `values` the command computed."""
        given = {name: getattr(args, name) for name in cls.model_fields if hasattr(args, name)}
        return cls(**given | values)


def _flag_type(annotation: Any) -> Any:
    """`int | None` -> int: the annotation a flag's value is parsed as (not None)."""
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    return members[0] if type(None) in typing.get_args(annotation) and len(members) == 1 else annotation


@dataclass(frozen=True)
class RecipePathKind:
    """`Annotated[str, RECIPE_PATH]`: a local path or a hub id; `RECIPE_DIR`: always a local directory."""

    always_local: bool


RECIPE_PATH = RecipePathKind(always_local=False)
RECIPE_DIR = RecipePathKind(always_local=True)


def _resolve_recipe_paths(cls: type[BaseModel], data: dict[str, Any], recipe_dir: Path) -> dict[str, Any]:
    """Recipe values of path fields, made relative to `recipe_dir` (nested sections too)."""
    out = dict(data)
    for name, info in cls.model_fields.items():
        value = out.get(name)
        kind = next((m for m in info.metadata if isinstance(m, RecipePathKind)), None)
        if kind is not None and isinstance(value, str):
            out[name] = resolve_recipe_path(value, recipe_dir, always_local=kind.always_local)
        if isinstance(value, dict) and isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out[name] = _resolve_recipe_paths(info.annotation, value, recipe_dir)
    return out


def _known_keys(cls: Any, parts: tuple[Any, ...]) -> list[str]:
    """The field names of the section of `cls` at `parts` ([] when that is not a model)."""
    for part in parts:
        info = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        cls = info.annotation if info is not None else None
    return sorted(cls.model_fields) if isinstance(cls, type) and issubclass(cls, BaseModel) else []


def unknown_key(key: str, known: list[str]) -> str:
    """"unknown key" with the closest known names (difflib) and the full list."""
    close = difflib.get_close_matches(key, known, n=3)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"unknown key{hint} (known keys here: {', '.join(known)})"


# pydantic error types -> the wording of pgrpo's messages (others keep pydantic's own)
_WORDS = {"int_type": "expected an integer", "int_parsing": "expected an integer", "float_type": "expected a number",
          "bool_type": "expected true/false", "string_type": "expected a string", "list_type": "expected a list",
          "tuple_type": "expected a list", "dict_type": "expected a mapping", "model_type": "expected a mapping",
          "greater_than": "must be > {gt}", "greater_than_equal": "must be >= {ge}", "less_than": "must be < {lt}",
          "less_than_equal": "must be <= {le}", "literal_error": "must be one of [{expected}]"}


def _key_path(error: Any, data: Any) -> tuple[Any, ...]:
    """The part of a pydantic error's `loc` that names keys of `data` (union member tags dropped)."""
    if error["type"] in ("missing", "extra_forbidden"):
        return tuple(error["loc"])
    parts: list[Any] = []
    for part in error["loc"]:
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int):
            parts.append(part)
            data = data[part]
        else:
            break
    return tuple(parts)


def _message(error: Any, parts: tuple[Any, ...], cls: Any) -> tuple[tuple[Any, ...], str]:
    """(key path, what is wrong) for one pydantic error."""
    kind, msg, value = error["type"], error["msg"], error.get("input")
    if kind in ("value_error", "assertion_error"):
        msg = str(error["ctx"]["error"]) if "error" in error.get("ctx", {}) else msg
        named = re.match(r"([A-Za-z_][\w.\[\]]*): (.*)", msg, re.S)
        if named:  # the validator names the key: within its section, or its own field's (`url[0]`)
            own = parts and named.group(1).split(".")[0].split("[")[0] == parts[-1]
            parts, msg = (*parts[: -1 if own else None], *named.group(1).split(".")), named.group(2)
        return parts, msg
    if kind == "extra_forbidden":
        return parts, unknown_key(str(parts[-1]), _known_keys(cls, parts[:-1]))
    if kind == "missing":
        return parts, "required key is missing"
    ctx = {k: str(v).replace(" or ", ", ") for k, v in error.get("ctx", {}).items()}  # "'a' or 'b'" -> "'a', 'b'"
    return parts, f"{_WORDS[kind].format(**ctx) if kind in _WORDS else msg}, got {value!r}"


def config_error(exc: ValidationError, data: Any, cls: Any, source: str | None = None,
                 lines: Lines | None = None, flags: Mapping[str, str] | None = None) -> ConfigError:
    """A ConfigError, "SOURCE:LINE: key: what is wrong" per distinct key (`flags`: top-level keys' flags)."""
    out: dict[str, str] = {}
    for error in exc.errors():
        parts, text = _message(error, _key_path(error, data), cls)
        key = ".".join(map(str, parts))
        field = str(parts[0]).split("[")[0] if parts else ""
        if flags and field in flags:  # `url[0]` -> `--sandbox-url[0]`
            key = flags[field] + key[len(field):]
        line = next((lines[parts[:n]] for n in range(len(parts), 0, -1) if parts[:n] in lines), 0) if lines else 0
        where = f"{source}:{line}: " if source and line else f"{source}: " if source else ""
        out.setdefault(key, f"{where}{key}: {text}" if key else where + text)
    return ConfigError("\n".join(out.values()))


def validate(cls: type[M], data: Any, source: str | None = None, lines: Lines | None = None,
             flags: Mapping[str, str] | None = None) -> M:
    """`cls` built from `data`; a ConfigError naming source, line and key (or flag) for anything wrong."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, data, cls, source, lines, flags) from None


def build_dataclass(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """A plain dataclass record (e.g. a manifest) from a mapping, keys and types checked strictly."""
    where = f"{prefix}: " if prefix else ""
    _check_record_keys(cls, data, where)
    try:
        return TypeAdapter(cls).validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise ConfigError(where + str(config_error(exc, data, None))) from None


def _check_record_keys(cls: Any, data: dict[str, Any], where: str, prefix: str = "") -> None:
    """ConfigError for a key of `data` that is not a field of dataclass `cls` (nested records too)."""
    hints = typing.get_type_hints(cls)
    fields = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{where}{prefix}{key}: {unknown_key(str(key), fields)}")
        inner = next((t for t in (hints[key], *typing.get_args(hints[key])) if dataclasses.is_dataclass(t)), None)
        if inner is not None and isinstance(value, dict):
            _check_record_keys(inner, value, where, f"{prefix}{key}.")


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


def apply_overrides(data: dict[str, Any], overrides: list[str], lines: Lines | None = None) -> dict[str, Any]:
    """A copy of `data` with each dotted override set; overridden keys' `lines` become 0 (no recipe line)."""
    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(path[: i + 1])}: is a value, not a section")
            node = child
        node[path[-1]] = value
        if lines is not None:
            lines.update({k: 0 for k in lines if k[: len(path)] == tuple(path)} | {tuple(path): 0})
    return out


def _node_lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> Lines:
    """The 1-based line of every key (and list item) under `node`, by key path."""
    out: Lines = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out.update(_node_lines(value, path + (key.value,)))
            out[path + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_node_lines(item, path + (i,)))
            out[path + (i,)] = item.start_mark.line + 1
    return out


def read_yaml_lines(path: str | Path) -> tuple[dict[str, Any], Lines]:
    """A YAML mapping (safe_load) and the line of each key; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if data is None or node is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data, _node_lines(node)


def load_config(cls: type[M], path: str | Path | None = None, overrides: list[str] | None = None) -> M:
    """Recipe file (optional) + dotted overrides -> validated `cls` instance."""
    data, lines = read_yaml_lines(path) if path is not None else ({}, {})
    if path is not None:
        data = _resolve_recipe_paths(cls, data, Path(path).parent)
    data = apply_overrides(data, list(overrides or []), lines)
    return validate(cls, data, str(path) if path is not None else None, lines)


def to_dict(config: BaseModel) -> dict[str, Any]:
    """A config as plain data (for saving next to a run)."""
    return config.model_dump(mode="json")
