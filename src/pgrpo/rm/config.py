"""Configuration of `pgrpo rm train`: YAML recipes (`recipes/rm/`) + dotted overrides."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from pgrpo.config import RECIPE_DIR, RECIPE_PATH, ConfigModel
from pgrpo.hf_loading import DTYPE_NAMES
from pgrpo.rm.manifest import ImplicitParams


class ModelSection(ConfigModel):
    """The base checkpoint: any causal LM (the scalar head adds a fresh score head; the implicit
    head trains the LM itself), or, for the scalar head, a reward model."""

    path: Annotated[str, RECIPE_PATH] = ""
    # Build a tiny Qwen2 (pgrpo.tiny) whose BPE is trained on the training pairs instead of
    # loading `path`: for CPU smoke runs and tests, never the hub.
    tiny: bool = False
    tiny_hidden_size: int = 64
    tiny_layers: int = 2
    tiny_vocab_size: int = 1024
    dtype: str = "float32"  # one of pgrpo.hf_loading.DTYPE_NAMES
    attn_implementation: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelSection:
        if not self.tiny and not self.path:
            raise ValueError("path: required unless model.tiny is true")
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(f"dtype: must be one of {list(DTYPE_NAMES)}, got {self.dtype!r}")
        return self


class HeadSection(ConfigModel):
    """How the RM turns (problem, reasoning) into a score; both heads train on the same
    Bradley-Terry loss, -log sigmoid(r_chosen - r_rejected).

    scalar: a linear head on the last token of the RM template (the paper's RM; TRL RewardTrainer).
    implicit: beta * sum of log pi_theta / pi_ref over the reasoning written as the policy's own
      response to its own prompt (`prompt_style`), pi_ref = the frozen base; DPO's implicit
      reward, trained with TRL's DPOTrainer (`pgrpo.rm.implicit`). `data.use_margin` is scalar-only.
    """

    kind: Literal["scalar", "implicit"] = "scalar"
    beta: float = 0.1
    prompt_style: str = "pgrpo"

    @model_validator(mode="after")
    def _check(self) -> HeadSection:
        ImplicitParams(self.beta, self.prompt_style)  # the manifest's checks of beta and prompt_style
        return self


class LoraSection(ConfigModel):
    """Optional LoRA (peft; merged into the saved model). Scalar head: task SEQ_CLS, the score
    head trained in full; implicit head: task CAUSAL_LM, the reference is the adapter-free model."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


class DataSection(ConfigModel):
    """Pairs JSONL files. Without `eval`, a held-out share of the problems is split off `train`."""

    train: Annotated[str, RECIPE_PATH, Field(min_length=1)]  # required (a pairs JSONL)
    eval: Annotated[str | None, RECIPE_PATH] = None
    heldout_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    skip_bad: bool = False
    # Pass each pair's `margin` to the loss: -log sigmoid(r_c - r_r - margin); missing -> 0.
    use_margin: bool = False


class TrainSection(ConfigModel):
    """Optimisation; mapped onto TRL's RewardConfig or DPOConfig (transformers TrainingArguments)."""

    epochs: float = 1.0
    max_steps: int = -1
    learning_rate: float = 1e-5
    batch_size: int = Field(default=4, ge=1)  # pairs per device per step
    gradient_accumulation_steps: int = 1
    max_length: int = Field(default=2048, ge=16)  # tokens per side; longer inputs are truncated (see pgrpo.rm.template)
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"
    bf16: bool = False
    gradient_checkpointing: bool = False
    center_rewards_coefficient: float | None = None
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int = 2
    # "never" rather than TrainingArguments' "no", which YAML would read as false.
    eval_strategy: Literal["never", "steps", "epoch"] = "epoch"
    eval_batch_size: int = 8
    deepspeed: Annotated[str | None, RECIPE_PATH] = None  # a DeepSpeed JSON (or use `accelerate launch --config_file`)
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    resume: bool = True  # continue from the last checkpoint in output_dir if there is one


class RMTrainConfig(ConfigModel):
    output_dir: Annotated[str, RECIPE_DIR]
    model: ModelSection
    data: DataSection
    train: TrainSection = TrainSection()  # pydantic copies a default per instance
    head: HeadSection = HeadSection()  # pydantic copies a default per instance
    lora: LoraSection = LoraSection()  # pydantic copies a default per instance
    seed: int = 0
    score_batch_size: int = 16  # for the held-out evaluation after training

    @model_validator(mode="after")
    def _check(self) -> RMTrainConfig:
        if self.head.kind == "implicit" and self.data.use_margin:
            raise ValueError("data.use_margin: pair margins are supported by head.kind=scalar only")
        if self.head.kind == "implicit" and self.train.center_rewards_coefficient:
            raise ValueError("train.center_rewards_coefficient: supported by head.kind=scalar only")
        return self
