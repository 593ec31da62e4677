"""A recipe's `grpo` section checked against a TRL config class (`checked_grpo_kwargs`); `grpo_value`:
a checked kwarg or GRPOConfig's default, without building a GRPOConfig; the `trainer: async` checks.

`trainer: async` (TRL 1.16's experimental AsyncGRPOTrainer): `grpo.*` against AsyncGRPOConfig (no beta
/ loss_type / scale_rewards: its loss already is the paper's); generation on the `trl vllm-serve`
server the recipe must name; rewards scored in a CUDA-free child, so the RM must be served and each
call is bounded below `grpo.heartbeat_stale_after_s`; chat-message prompts (no `data.think_prefilled`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlparse

from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError

from pgrpo.config import ConfigError
from pgrpo.rewards.batch import get_mode

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


VLLM_URL_HINT = ("the `trl vllm-serve` server that generates (e.g. http://GPU-HOST:8000); start it on the "
                 "policy with VLLM_SERVER_DEV_MODE=1 and --weight-transfer-config '{\"backend\":\"nccl\"}'")
CALL_BOUND_SHARE = 0.5  # a reward call's bound, as a share of grpo.heartbeat_stale_after_s
MAX_CALL_BOUND_S = 600.0  # and never above this (pgrpo.engines.DEFAULT_CALL_TIMEOUT_S)


def async_grpo() -> Any:
    """trl.experimental.async_grpo, imported without its "experimental" warning (the recipe asked for it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*trl.experimental.*")
        import trl.experimental.async_grpo as module
    return module


def heartbeat_s(kwargs: Mapping[str, Any]) -> float:
    """grpo.heartbeat_stale_after_s, else AsyncGRPOConfig's default."""
    default: Any = next(f.default for f in dataclasses.fields(async_grpo().AsyncGRPOConfig)
                        if f.name == "heartbeat_stale_after_s")
    return float(kwargs.get("heartbeat_stale_after_s") or default)


def call_bound_s(kwargs: Mapping[str, Any]) -> float:
    """One reward call's bound: well inside the trainer's patience with a silent rollout child."""
    return min(MAX_CALL_BOUND_S, CALL_BOUND_SHARE * heartbeat_s(kwargs))


def async_plan(config: Any, kwargs: Mapping[str, Any]) -> str:
    """What `pgrpo train --check` reports for `trainer: async`."""
    rm = config.reward.rm_url if get_mode(config.reward.mode).uses_thinking else None
    rm_text = (f"reasoning RM served at {rm if isinstance(rm, str) else ', '.join(rm)}" if rm
               else "no reasoning RM (outcome mode)")
    return (f"trainer async (TRL AsyncGRPOTrainer, experimental; not yet run on a GPU by pgrpo):\n"
            f"  generation: trl vllm-serve at {kwargs['vllm_server_base_url']} (weights synced over NCCL)\n"
            f"  rewards: scored in TRL's CUDA-free rollout child, one call per group of "
            f"{int(kwargs.get('num_generations') or 8)}, each bounded by {call_bound_s(kwargs):g} s "
            f"(grpo.heartbeat_stale_after_s {heartbeat_s(kwargs):g} s); {rm_text}")


def validate_async(config: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The async path's own checks (after validate_train_config's common ones); the AsyncGRPOConfig kwargs."""
    reward = config.reward
    if get_mode(reward.mode).uses_thinking and reward.rm_url is None:
        key = "build_tiny_rm" if reward.build_tiny_rm else "rm_path"
        raise ConfigError(f"reward.{key}: trainer: async scores rewards in TRL's CUDA-free rollout child, where a "
                          f"local reward model would run on CPU: serve it (`pgrpo rm serve`) and set reward.rm_url "
                          f"(reward.mode={reward.mode})")
    if config.data.think_prefilled:
        raise ConfigError("data.think_prefilled: trainer: async sends chat messages and the rollout child applies the "
                          "chat template itself, so a prompt cannot end inside <think>; set it to false")
    if config.model.attn_implementation:
        raise ConfigError("model.attn_implementation: trainer: async loads the policy with TRL's own tree attention; "
                          "leave the key out")
    # the `grpo` section over those of `defaults` (GRPO_DEFAULTS) AsyncGRPOConfig has; the sync path keeps
    # them all, so a default a later GRPOConfig renames fails there loudly instead of being dropped
    cls = async_grpo().AsyncGRPOConfig
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    out = checked_grpo_kwargs(config.grpo, cls, {k: v for k, v in defaults.items() if k in fields})
    if out.get("vllm_server_base_url") is None:  # AsyncGRPOConfig's localhost default is never assumed
        raise ConfigError(f"grpo.vllm_server_base_url: required with trainer: async: {VLLM_URL_HINT}")
    url = urlparse(str(out["vllm_server_base_url"]))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"grpo.vllm_server_base_url: expected http(s)://HOST[:PORT], got "
                          f"{out['vllm_server_base_url']!r}")
    if "dtype" not in config.grpo and config.model.dtype != "auto":
        out["dtype"] = config.model.dtype  # the policy's dtype, as on the GRPOTrainer path
    return out
