"""The `trainer: async` recipe checks: `pgrpo train` on TRL 1.16's experimental AsyncGRPOTrainer.

Owns `REQUIRED_ASYNC_KEYS`, `async_grpo_kwargs`, `validate_async` (what `validate_train_config` runs
for `trainer: async`), the reward call's bound (`call_bound_s`) and `AsyncPlan` (`pgrpo train --check`).
The recipe is read structurally (a `pgrpo.train.config.TrainConfig`, not imported: that module calls
this one). What differs from the GRPOTrainer path, each read from TRL's source
(trl/experimental/async_grpo/):
- `grpo.*` keys are checked against AsyncGRPOConfig (an unknown key is an error naming it); of
  pgrpo's GRPO_DEFAULTS only the keys that class has apply. It has no `beta`, `loss_type` or
  `scale_rewards`: its loss has no KL term, is token-level over the step's tokens, and its
  advantages are normalised per group, i.e. the paper's choices that those defaults pin.
- Generation runs on a `trl vllm-serve` server the recipe names (`grpo.vllm_server_base_url`,
  required: AsyncGRPOConfig's localhost default is never assumed); weights go to it over NCCL.
- Rewards are scored in a spawned, CUDA-free child on rank 0, once per group: the reasoning RM must
  be served (`reward.rm_url`); a local `reward.rm_path` or `reward.build_tiny_rm` is refused. Each
  scoring call is bounded below `grpo.heartbeat_stale_after_s`, so a hung service surfaces as an
  error naming the items and services, not as a "child is hung" abort.
- Prompts are chat messages (the child applies the chat template itself), so `data.think_prefilled`
  is refused; `model.attn_implementation` is refused (the trainer uses its own tree attention).
- Metrics: one child scores every group, so TRL's `rewards/<component>` are global; pgrpo's own
  per-step reward stats and `samples.jsonl` are not written on this path (`grpo.log_completions`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from pgrpo.config import ConfigError
from pgrpo.rewards.batch import get_mode
from pgrpo.train.grpo_fields import checked_grpo_kwargs

# AsyncGRPOConfig fields pgrpo requires the recipe to set (no default is assumed for them).
REQUIRED_ASYNC_KEYS = {
    "vllm_server_base_url": "the `trl vllm-serve` server that generates (e.g. http://GPU-HOST:8000); start it on "
                            "the policy with VLLM_SERVER_DEV_MODE=1 and --weight-transfer-config '{\"backend\":\"nccl\"}'",
}
CALL_BOUND_SHARE = 0.5  # a reward call's bound, as a share of grpo.heartbeat_stale_after_s
MAX_CALL_BOUND_S = 600.0  # and never above this (pgrpo.engines.DEFAULT_CALL_TIMEOUT_S)

def async_grpo() -> Any:
    """trl.experimental.async_grpo, imported without its "experimental" warning (the recipe asked for it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*trl.experimental.*")
        import trl.experimental.async_grpo as module
    return module


def _async_config_class() -> type:
    config_class: type = async_grpo().AsyncGRPOConfig
    return config_class


def async_grpo_kwargs(config: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The `grpo` section over the `defaults` (pgrpo's GRPO_DEFAULTS) AsyncGRPOConfig has, keys and types
    checked against it."""
    cls = _async_config_class()
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    out = checked_grpo_kwargs(config.grpo, cls, {k: v for k, v in defaults.items() if k in fields})
    for key, why in REQUIRED_ASYNC_KEYS.items():
        if out.get(key) is None:
            raise ConfigError(f"grpo.{key}: required with trainer: async: {why}")
    url = urlparse(str(out["vllm_server_base_url"]))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"grpo.vllm_server_base_url: expected http(s)://HOST[:PORT], got "
                          f"{out['vllm_server_base_url']!r}")
    if "dtype" not in config.grpo and config.model.dtype != "auto":
        out["dtype"] = config.model.dtype  # the policy's dtype, as on the GRPOTrainer path
    return out


def _default(name: str) -> Any:
    return next(f.default for f in dataclasses.fields(_async_config_class()) if f.name == name)


def call_bound_s(kwargs: dict[str, Any]) -> float:
    """One reward call's bound: well inside the trainer's patience with a silent rollout child."""
    stale = float(kwargs.get("heartbeat_stale_after_s") or _default("heartbeat_stale_after_s"))
    return min(MAX_CALL_BOUND_S, CALL_BOUND_SHARE * stale)


@dataclass(frozen=True)
class AsyncPlan:
    """What `pgrpo train --check` reports for `trainer: async`."""

    vllm_url: str
    group_size: int
    call_bound_s: float
    heartbeat_s: float
    rm: str | None

    def describe(self) -> str:
        rm = f"reasoning RM served at {self.rm}" if self.rm else "no reasoning RM (outcome mode)"
        return (f"trainer async (TRL AsyncGRPOTrainer, experimental; not yet run on a GPU by pgrpo):\n"
                f"  generation: trl vllm-serve at {self.vllm_url} (weights synced over NCCL)\n"
                f"  rewards: scored in TRL's CUDA-free rollout child, one call per group of {self.group_size}, "
                f"each bounded by {self.call_bound_s:g} s (grpo.heartbeat_stale_after_s {self.heartbeat_s:g} s); "
                f"{rm}")


def async_plan(config: Any, kwargs: dict[str, Any]) -> AsyncPlan:
    rm = config.reward.rm_url if get_mode(config.reward.mode).uses_thinking else None
    return AsyncPlan(str(kwargs["vllm_server_base_url"]), int(kwargs.get("num_generations") or 8),
                     call_bound_s(kwargs),
                     float(kwargs.get("heartbeat_stale_after_s") or _default("heartbeat_stale_after_s")),
                     rm if rm is None or isinstance(rm, str) else ", ".join(rm))


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
    kwargs = async_grpo_kwargs(config, defaults)
    group = kwargs.get("num_generations")
    if group is not None and group < 2:
        raise ConfigError(f"grpo.num_generations: GRPO needs >= 2 completions per prompt, got {group}")
    return kwargs
