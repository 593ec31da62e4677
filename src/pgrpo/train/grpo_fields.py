"""A recipe's `grpo` section checked against a TRL config class (`checked_grpo_kwargs`), and
`grpo_value`: a checked kwarg or GRPOConfig's default, without building a GRPOConfig.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError

from pgrpo.config import ConfigError

# grpo keys that would break "sum of the logged components == the composed reward"
# or that pgrpo sets itself.
RESERVED_GRPO_KEYS = {
    "output_dir": "set the top-level `output_dir` instead",
    "reward_weights": "the components must sum with weight 1; use `reward.thinking_weight`",
    "multi_objective_aggregation": "P-GRPO normalises the summed reward (sum_then_normalize)",
}


def checked_grpo_kwargs(grpo: Mapping[str, Any], config_class: type, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A recipe's `grpo` section over `defaults`, each key checked against `config_class`'s fields and types."""
    hints = typing.get_type_hints(config_class)
    fields = {f.name for f in dataclasses.fields(config_class) if f.init}
    out = dict(defaults)
    for key, value in grpo.items():
        name = f"grpo.{key}"
        if key in RESERVED_GRPO_KEYS:
            raise ConfigError(f"{name}: not allowed here: {RESERVED_GRPO_KEYS[key]}")
        if key not in fields:
            close = sorted(f for f in fields if key.split("_")[0] in f)[:8]
            hint = f" (similar: {', '.join(close)})" if close else ""
            raise ConfigError(f"{name}: unknown key: not a trl {config_class.__name__} field{hint}")
        _check_type(hints.get(key, Any), value, name)
        out[key] = value
    return out


def _check_type(hint: Any, value: Any, name: str) -> None:
    """Type check only (strict: no "1" -> 1, no true -> 1); the config class converts the value itself."""
    try:
        TypeAdapter(hint).validate_python(value, strict=True)
    except PydanticSchemaGenerationError:
        return  # a type pydantic cannot check (left to the config class)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"{name}: expected {getattr(hint, '__name__', None) or str(hint).replace('typing.', '')}, "
                          f"got {value!r} ({error['msg']})") from None


@cache
def _defaults() -> dict[str, Any]:
    from trl import GRPOConfig

    return {f.name: f.default for f in dataclasses.fields(GRPOConfig) if f.default is not dataclasses.MISSING}


def grpo_value(kwargs: Mapping[str, Any], name: str) -> Any:
    """`kwargs[name]` unless absent or None, else GRPOConfig's default (KeyError for a field without one)."""
    value = kwargs.get(name)
    return _defaults()[name] if value is None else value
