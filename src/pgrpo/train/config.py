"""The `pgrpo train` recipe: `TrainConfig` (our sections plus `grpo`, passed to TRL's GRPOConfig).

`GRPO_DEFAULTS` sit under every recipe's `grpo` keys; `validate_train_config` checks all that can be
checked without loading a model (keys and types, RM sources and manifests, paths, `peft`, the
reward budget, the async path). Errors are ConfigErrors naming the key. Imports trl only when called.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from pgrpo.config import RECIPE_DIR, RECIPE_PATH, ConfigError, ConfigModel, load_config
from pgrpo.hf_loading import DTYPE_NAMES
from pgrpo.paths import is_local_path
from pgrpo.rewards.batch import REWARD_MODES
from pgrpo.rm.client import DEFAULT_RETRIES as RM_RETRIES
from pgrpo.rm.client import DEFAULT_TIMEOUT_S as RM_TIMEOUT_S
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.train.grpo_fields import checked_grpo_kwargs, validate_async

if typing.TYPE_CHECKING:
    from peft import LoraConfig

    from pgrpo.rm.backends import RMBackend

RECIPE_VERSION = 1

# Under every recipe's `grpo:` keys (which override them). From the paper (its later version,
# as in DAPO): clip-higher 0.2/0.28, no KL penalty, token-level loss. Group size 8 and
# temperature 1.0 are TRL's defaults, not the paper's; the rest are our choices.
GRPO_DEFAULTS: dict[str, Any] = {
    "num_generations": 8,  # TRL default
    "epsilon": 0.2,  # paper
    "epsilon_high": 0.28,  # paper (binds only with several updates per rollout: steps_per_generation)
    "beta": 0.0,  # paper: no KL
    "loss_type": "dapo",  # paper: token-level, normalised by the number of active tokens
    "temperature": 1.0,  # TRL default
    "scale_rewards": "group",
    "report_to": ["tensorboard"],
    "logging_steps": 1,
    "save_steps": 50,
    "save_strategy": "steps",
}

class ModelSection(ConfigModel):
    """The policy: a local dir / hub id in `path`, or `build_tiny: true` (a tiny Qwen2 built locally)."""

    path: Annotated[str | None, RECIPE_PATH] = None
    build_tiny: bool = False
    tiny: dict[str, Any] = Field(default_factory=dict)  # build_tiny_model kwargs (hidden_size, num_layers...)
    format_warmup_steps: int = Field(default=0, ge=0)  # tiny policy only: SFT steps teaching the response format (train/tasks.py)
    dtype: str = "auto"  # one of pgrpo.hf_loading.DTYPE_NAMES
    attn_implementation: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelSection:
        if self.tiny and not self.build_tiny:
            raise ValueError("tiny: only used with model.build_tiny: true")
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(f"dtype: must be one of {list(DTYPE_NAMES)}, got {self.dtype!r}")
        return self


class DataSection(ConfigModel):
    """Training problems: `source` as in pgrpo.data.load_problems ("humaneval", a file, a hub id)."""

    source: Annotated[str, RECIPE_PATH] = ""
    format: str | None = None
    limit: int | None = Field(default=None, ge=1)
    split: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    prompt_style: str = "pgrpo"
    think_prefilled: bool = False  # the prompt already ends with "<think>"
    # BigCodeBench's "unittest" tests run in the program's process, whose verdict a policy can learn to forge
    allow_unittest: bool = False


class RewardSection(ConfigModel):
    mode: str = "posterior"
    thinking_weight: float = Field(default=1.0, ge=0)
    rm_path: Annotated[str | None, RECIPE_PATH] = None
    # `pgrpo rm serve` URL(s) instead of rm_path (a list, or comma-separated); token: env PGRPO_RM_TOKEN
    rm_url: str | list[str] | None = None
    # What serves rm_url (pgrpo.rm.backends): "pgrpo" or "vllm" (/classify; rm_path: a local copy of
    # the served RM, whose manifest and tokenizer encode the items)
    rm_backend: str = "pgrpo"
    # per attempt of a request to rm_url, and retries (backoff, next URL): see pgrpo.train.reward_budget
    rm_timeout_s: float = Field(default=RM_TIMEOUT_S, gt=0)
    rm_retries: int = Field(default=RM_RETRIES, ge=0)
    build_tiny_rm: bool = False  # an UNTRAINED tiny RM: plumbing tests only
    rm_batch_size: int = Field(default=16, ge=1)  # local: items per forward pass; rm_url: items per request
    rm_max_length: int | None = Field(default=None, ge=1)  # tokens per RM input; None: the RM's training length (rm_url: must match)
    rm_device: str | None = None  # local RM only

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        if mode not in REWARD_MODES:
            raise ValueError(f"must be one of {sorted(REWARD_MODES)}, got {mode!r}")
        return mode


class LoggingSection(ConfigModel):
    metrics_file: str = "metrics.jsonl"
    samples_file: str = "samples.jsonl"
    sample_every: int = Field(default=10, ge=0)  # steps between completion samples (0: never)
    num_samples: int = Field(default=4, ge=0)


class TrainConfig(ConfigModel):
    output_dir: Annotated[str, RECIPE_DIR, Field(min_length=1)]
    version: int = RECIPE_VERSION
    task: Literal["code", "math"] = "code"
    model: ModelSection = ModelSection()  # pydantic copies a default per instance
    data: DataSection = DataSection()  # pydantic copies a default per instance
    reward: RewardSection = RewardSection()  # pydantic copies a default per instance
    sandbox: SandboxConfig = SandboxConfig()
    # trl: TRL's GRPOTrainer | async: TRL's experimental AsyncGRPOTrainer (pgrpo.engines.trl_async)
    trainer: Literal["trl", "async"] = "trl"
    grpo: dict[str, Any] = Field(default_factory=dict)  # trl.GRPOConfig fields (trainer async: AsyncGRPOConfig's)
    peft: dict[str, Any] = Field(default_factory=dict)  # peft.LoraConfig fields; empty = full fine-tuning
    logging: LoggingSection = LoggingSection()  # pydantic copies a default per instance
    resume: str = "auto"  # auto (latest checkpoint in output_dir) | never | a checkpoint dir
    torch_threads: int | None = Field(default=None, ge=1)  # torch.set_num_threads; 1 is much faster on a busy small CPU

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.version != RECIPE_VERSION:
            raise ValueError(f"version: this pgrpo reads recipe version {RECIPE_VERSION}, got {self.version}")
        return self


def load_train_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    return load_config(TrainConfig, path, overrides)


def validate_train_config(config: TrainConfig, *, check_paths: bool = True,
                          contact: bool | None = None) -> dict[str, Any]:
    """Raise ConfigError (naming the key) for anything wrong; return the checked GRPOConfig kwargs.
    check_paths: local paths must exist. contact (default check_paths): ask the services the recipe
    names (`pgrpo train` has every rank do so at once: pgrpo.train.runner.agreed_service_checks)."""
    contact = check_paths if contact is None else contact
    _validate_model(config.model, check_paths, config.task)
    _validate_data(config, check_paths)
    _validate_reward(config.reward, check_paths, contact)
    if config.resume not in ("auto", "never") and check_paths and not Path(config.resume).is_dir():
        raise ConfigError(f"resume: checkpoint directory {config.resume!r} not found (or use auto / never)")
    if config.peft:
        lora_config(config)
    if config.trainer == "async":
        kwargs = validate_async(config, GRPO_DEFAULTS)
    else:
        from trl import GRPOConfig

        kwargs = checked_grpo_kwargs(config.grpo, GRPOConfig, GRPO_DEFAULTS)
    group = kwargs.get("num_generations")
    if group is not None and group < 2:
        raise ConfigError(f"grpo.num_generations: GRPO needs >= 2 completions per prompt, got {group}")
    if config.trainer != "async":
        from pgrpo.train.reward_budget import check_reward_budget, reward_budget

        check_reward_budget(reward_budget(config, kwargs, contact=contact))  # failing calls end in time
    return kwargs


def validate_reward_recipe(config: TrainConfig, *, check_paths: bool = True) -> None:
    """ConfigError (naming the key) for anything wrong in what scoring completions reads of a recipe
    (`pgrpo.engines.PosteriorReward`): `data` and `reward`. Services are not contacted."""
    _validate_data(config, check_paths)
    _validate_reward(config.reward, check_paths, contact=False)


def _validate_model(model: ModelSection, check_paths: bool, task: str) -> None:
    if model.build_tiny == (model.path is not None):  # the trainer's: a reward-only recipe has no policy
        raise ConfigError("model: set exactly one of model.path and model.build_tiny: true")
    if model.format_warmup_steps and not model.build_tiny:
        raise ConfigError("model.format_warmup_steps: only for a tiny policy built with model.build_tiny: true")
    if model.format_warmup_steps and task != "code":
        raise ConfigError(f"model.format_warmup_steps: the warm-up teaches the code answer format; not for task: {task}")
    if check_paths and model.path is not None and is_local_path(model.path) and not Path(model.path).exists():
        raise ConfigError(f"model.path: {model.path!r} does not exist")


def _validate_data(config: TrainConfig, check_paths: bool) -> None:
    data = config.data
    if not data.source:
        raise ConfigError("data.source: required (\"humaneval\", a local file, or a hub dataset id)")
    if config.task == "math" and (data.format is not None or data.options):
        key = "data.format" if data.format is not None else "data.options"
        raise ConfigError(f"{key}: math problems are read by their fields (problem, answer); format and "
                          "options apply to code problems only")
    builtin = config.task == "code" and data.source == "humaneval"
    if check_paths and not builtin and is_local_path(data.source) and not Path(data.source).exists():
        raise ConfigError(f"data.source: dataset file {data.source!r} not found")


def _validate_reward(reward: RewardSection, check_paths: bool, contact: bool) -> None:
    uses_rm = REWARD_MODES[reward.mode].uses_thinking
    from pgrpo.rm.backends import RM_BACKENDS

    if reward.rm_backend not in RM_BACKENDS:
        raise ConfigError(f"reward.rm_backend: must be one of {sorted(RM_BACKENDS)}, got {reward.rm_backend!r}")
    # A backend that needs rm_path reads the served RM's manifest and tokenizer there: not a second RM.
    local_copy = RM_BACKENDS[reward.rm_backend].needs_rm_path
    if local_copy and uses_rm and (reward.rm_url is None or reward.rm_path is None):
        missing = "rm_url" if reward.rm_url is None else "rm_path"
        raise ConfigError(f"reward.{missing}: reward.rm_backend={reward.rm_backend} scores through reward.rm_url and "
                          f"encodes items with the local copy of the served RM in reward.rm_path: set both")
    sources = [k for k, v in (("rm_path", reward.rm_path is not None and not local_copy),
                              ("rm_url", reward.rm_url is not None), ("build_tiny_rm", reward.build_tiny_rm)) if v]
    if uses_rm and not sources:
        raise ConfigError(f"reward.rm_path: reward.mode={reward.mode!r} needs a reasoning reward model "
                          "(set reward.rm_path, reward.rm_url (a `pgrpo rm serve` URL), or reward.build_tiny_rm: "
                          "true for an untrained test RM)")
    if len(sources) > 1:
        raise ConfigError(f"reward.{sources[1]}: set only one of reward.rm_path, reward.rm_url and "
                          f"reward.build_tiny_rm (got {' and '.join('reward.' + s for s in sources)})")
    if reward.rm_url is not None:
        _validate_rm_url(reward, contact and uses_rm)
    if check_paths and uses_rm and reward.rm_path is not None and not Path(reward.rm_path).exists():
        raise ConfigError(f"reward.rm_path: reward model {reward.rm_path!r} does not exist")
    if uses_rm and reward.rm_path is not None and Path(reward.rm_path).is_dir():
        from pgrpo.errors import PgrpoError
        from pgrpo.rm.manifest import read_manifest

        try:  # not an RM from an older pgrpo: what the RM reads is its manifest's
            read_manifest(reward.rm_path)
        except PgrpoError as exc:
            raise ConfigError(f"reward.rm_path: {exc}") from None


def rm_urls(reward: RewardSection) -> tuple[str, ...]:
    """`reward.rm_url` as a tuple of URLs (ConfigError naming the key when malformed)."""
    from pgrpo.serving import parse_urls

    return parse_urls(reward.rm_url or (), "reward.rm_url")


def rm_backend(reward: RewardSection) -> RMBackend:
    """The `pgrpo.rm.backends` backend `reward.rm_backend` names (ConfigError naming the key)."""
    from pgrpo.rm.backends import make_backend

    return make_backend(reward.rm_backend, reward.rm_path, reward.rm_max_length)


def _validate_rm_url(reward: RewardSection, contact: bool) -> None:
    """URLs well-formed; with `contact`, the served manifest and max_length (its /health) checked."""
    from pgrpo.errors import PgrpoError
    from pgrpo.rm.client import RMClient

    urls = rm_urls(reward)
    if not contact:
        return
    client = RMClient(urls, timeout_s=min(reward.rm_timeout_s, 30.0), retries=reward.rm_retries,
                      backend=rm_backend(reward))
    try:
        served_length = client.max_length  # reads the served manifest (/health)
    except PgrpoError as exc:
        raise ConfigError(f"reward.rm_url: {exc}") from None
    finally:
        client.close()
    if reward.rm_max_length is not None and reward.rm_max_length != served_length:
        raise ConfigError(f"reward.rm_max_length: {reward.rm_max_length}, but the service at {urls[0]} scores with "
                          f"max_length={served_length}; start it with `pgrpo rm serve --max-length "
                          f"{reward.rm_max_length}` or leave the key out")


def lora_config(config: TrainConfig) -> LoraConfig | None:
    """`peft.LoraConfig` from the `peft` section (keys checked, errors name `peft.<key>`), or None."""
    if not config.peft:
        return None
    from peft import LoraConfig

    fields = {f.name for f in dataclasses.fields(LoraConfig) if f.init}
    for key in config.peft:
        if key not in fields:
            raise ConfigError(f"peft.{key}: unknown key: not a peft LoraConfig field")
    try:
        return LoraConfig(**config.peft)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"peft: {exc}") from exc
