"""What a reward head's fit function gets and returns, and what both heads' trainers share.

Owns what a head's fit function (`pgrpo.rm.train`'s scalar one, `pgrpo.rm.implicit_train`'s)
takes and returns, `FitInputs` / `Fitted`, the pairs' tokenisation, the shared TrainingArguments, LoRA config, resuming and
`save_trained`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.rm.config import RMTrainConfig
from pgrpo.rm.data import Pair
from pgrpo.rm.manifest import RMManifest, write_manifest
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.template import EncodedInput

if TYPE_CHECKING:
    from peft import LoraConfig

log = logging.getLogger(__name__)


@dataclass
class FitInputs:
    """What a head's fit function gets: the base checkpoint, its tokenizer, the pairs and the
    manifest the trained RM will carry (its `include_code` says how to read the sides)."""

    config: RMTrainConfig
    base: str
    tokenizer: Any
    train_pairs: list[Pair]
    heldout_pairs: list[Pair]
    manifest: RMManifest

    def datasets(self, encode: Callable[..., EncodedInput]) -> tuple[Any, Any | None, int]:
        """`tokenize_pairs` of the training and held-out pairs (None without any), and how many
        sides were truncated in all."""
        args = (encode, self.manifest.include_code, self.config.train.max_length, self.config.data.use_margin)
        train, n_train = tokenize_pairs(self.train_pairs, *args)
        heldout, n_heldout = tokenize_pairs(self.heldout_pairs, *args) if self.heldout_pairs else (None, 0)
        return train, heldout, n_train + n_heldout


@dataclass
class Fitted:
    """A trained and saved RM: a scorer for the held-out check, and the trainer's figures."""

    scorer: RewardScorer
    train_loss: float | None
    n_truncated: int
    log: Callable[[dict[str, Any]], None]  # to the trainer's loggers (TensorBoard)
    is_main_process: bool


def tokenize_pairs(pairs: Sequence[Pair], encode: Callable[..., EncodedInput], include_code: bool,
                   max_length: int, use_margin: bool = False) -> tuple[Any, int]:
    """Dataset columns `{chosen,rejected}_ids` and `_start` (first scored token), each side
    encoded alone by a head's `encode(statement, reasoning, code, max_length=)` exactly as its
    scorer encodes an item (the code section only with `include_code`), plus `margin` with
    `use_margin`; and how many sides were truncated."""
    from datasets import Dataset

    columns: dict[str, list[Any]] = {f"{side}_{key}": [] for side in ("chosen", "rejected") for key in ("ids", "start")}
    truncated = 0
    for pair in pairs:
        for side, text in (("chosen", pair.chosen), ("rejected", pair.rejected)):
            item = RMItem.from_side(pair.prompt, text)
            encoded = encode(item.statement, item.reasoning, item.code if include_code else None,
                             max_length=max_length)
            truncated += encoded.truncated
            columns[f"{side}_ids"].append(encoded.input_ids)
            columns[f"{side}_start"].append(encoded.start)
    if use_margin:
        columns["margin"] = [pair.margin or 0.0 for pair in pairs]
    return Dataset.from_dict(columns), truncated


def peft_config_for(config: RMTrainConfig, task_type: str) -> LoraConfig | None:
    """The LoRA config (`SEQ_CLS` for the scalar head, `CAUSAL_LM` for the implicit one), if enabled."""
    if not config.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(task_type=task_type, r=config.lora.r, lora_alpha=config.lora.alpha,
                      lora_dropout=config.lora.dropout, target_modules=list(config.lora.target_modules))


def trainer_arguments(config: RMTrainConfig, has_eval: bool) -> dict[str, Any]:
    """The TrainingArguments both heads' TRL configs (RewardConfig, DPOConfig) share."""
    t = config.train
    return dict(
        output_dir=config.output_dir,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        warmup_steps=t.warmup_ratio,  # a float < 1 is a share of the total steps
        weight_decay=t.weight_decay,
        lr_scheduler_type=t.lr_scheduler,
        bf16=t.bf16,
        gradient_checkpointing=t.gradient_checkpointing,
        # Inputs are already truncated by our policy; TRL's filter would silently drop pairs.
        max_length=None,
        logging_steps=t.logging_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy=t.eval_strategy if has_eval and t.eval_strategy != "never" else "no",
        deepspeed=t.deepspeed,
        report_to=list(t.report_to),
        seed=config.seed,
        data_seed=config.seed,
        model_init_kwargs={"dtype": config.model.dtype,
                           **({"attn_implementation": config.model.attn_implementation}
                              if config.model.attn_implementation else {})},
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def last_checkpoint(config: RMTrainConfig) -> str | None:
    """The Trainer checkpoint to resume from, if resuming is on and there is one."""
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(config.output_dir)
    checkpoint = get_last_checkpoint(str(out)) if config.train.resume and out.is_dir() else None
    if checkpoint:
        log.warning("resuming from %s", checkpoint)
    return checkpoint


def save_trained(trainer: Any, inputs: FitInputs) -> Any:
    """Save the trained model + tokenizer (LoRA merged: a plain model every consumer loads), then
    the manifest; returns the (merged) model."""
    out = inputs.config.output_dir
    model: Any = trainer.model
    if inputs.config.lora.enabled:  # LoRA is meant for single-device runs
        model = model.merge_and_unload()
        if trainer.is_world_process_zero():
            model.save_pretrained(out)
            inputs.tokenizer.save_pretrained(out)
    else:
        trainer.save_model(out)  # gathers ZeRO-3 shards; saves the tokenizer too
    if trainer.is_world_process_zero():
        write_manifest(out, inputs.manifest)
    return model


def check_config(config: RMTrainConfig) -> None:
    """What `pgrpo rm train --check` validates without loading a model: the pairs files exist, and
    every trainer argument is a field of this TRL's config for the head (so a key that one
    transformers/TRL version lacks fails here, not after the base model has loaded)."""
    import dataclasses

    from trl import DPOConfig, RewardConfig

    from pgrpo.config import ConfigError

    for key, path in (("data.train", config.data.train), ("data.eval", config.data.eval),
                      ("train.deepspeed", config.train.deepspeed)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{key}: file {path!r} not found")
    trl_config = DPOConfig if config.head.kind == "implicit" else RewardConfig
    fields = {f.name for f in dataclasses.fields(trl_config)}
    unknown = sorted(set(trainer_arguments(config, has_eval=True)) - fields)
    if unknown:
        raise ConfigError(f"train: {', '.join(unknown)} not accepted by this TRL's {trl_config.__name__}")
