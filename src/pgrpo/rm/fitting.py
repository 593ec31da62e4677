"""The two heads' fit functions for `pgrpo rm train` (`FITS`: scalar on TRL's RewardTrainer, implicit on
its DPOTrainer, each pair side encoded alone exactly as its scorer encodes it) and what they share:
`FitInputs` / `Fitted`, `tokenize_pairs`, the TrainingArguments, LoRA, and `train_and_save` (resuming,
saving).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.config import ConfigError
from pgrpo.errors import PgrpoError
from pgrpo.rm.config import RMTrainConfig
from pgrpo.rm.data import Pair
from pgrpo.rm.implicit import encode_implicit
from pgrpo.rm.manifest import REFERENCE_DIR, RMManifest, write_manifest
from pgrpo.rm.scoring import RewardScorer, RMItem, ScalarHead
from pgrpo.rm.template import EncodedInput, encode_rm_input

if TYPE_CHECKING:
    from peft import LoraConfig

log = logging.getLogger(__name__)

REFERENCE_SOURCE_FILE = "pgrpo_reference_source.json"  # in reference/: the base it was saved from


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


@dataclass
class Fitted:
    """A trained and saved RM: a scorer for the held-out check, and its trainer (loggers, rank, loss)."""

    scorer: RewardScorer
    trainer: Any
    n_truncated: int
    train_loss: float | None


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


# TrainSection fields TrainingArguments takes under the same name.
SAME_NAME_ARGUMENTS = ("max_steps", "learning_rate", "gradient_accumulation_steps", "weight_decay", "bf16",
                       "gradient_checkpointing", "logging_steps", "save_steps", "save_total_limit",
                       "deepspeed")


def trainer_arguments(config: RMTrainConfig, has_eval: bool) -> dict[str, Any]:
    """The TrainingArguments both heads' TRL configs (RewardConfig, DPOConfig) share."""
    t = config.train
    return dict(
        {name: getattr(t, name) for name in SAME_NAME_ARGUMENTS},
        output_dir=config.output_dir,
        num_train_epochs=t.epochs,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        warmup_steps=t.warmup_ratio,  # a float < 1 is a share of the total steps
        lr_scheduler_type=t.lr_scheduler,
        # Inputs are already truncated by our policy; TRL's filter would silently drop pairs.
        max_length=None,
        save_strategy="steps",
        eval_strategy=t.eval_strategy if has_eval and t.eval_strategy != "never" else "no",
        report_to=list(t.report_to),
        seed=config.seed,
        data_seed=config.seed,
        model_init_kwargs={"dtype": config.model.dtype,
                           **({"attn_implementation": config.model.attn_implementation}
                              if config.model.attn_implementation else {})},
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def tokenized(inputs: FitInputs, encode: Callable[..., EncodedInput]) -> tuple[Any, Any | None, int]:
    """`tokenize_pairs` of the training and held-out pairs (None without any), and how many sides were cut."""
    config = inputs.config
    pair_args = (encode, inputs.manifest.include_code, config.train.max_length, config.data.use_margin)
    train_ds, n_truncated = tokenize_pairs(inputs.train_pairs, *pair_args)
    eval_ds, n_heldout = (tokenize_pairs(inputs.heldout_pairs, *pair_args) if inputs.heldout_pairs
                          else (None, 0))
    return train_ds, eval_ds, n_truncated + n_heldout


def train_and_save(inputs: FitInputs, trainer_class: type, args: Any, datasets: tuple[Any, Any | None, int],
                   **trainer_kwargs: Any) -> tuple[Any, Any, int, float | None]:
    """Build `trainer_class` on the `tokenized` pairs, train it (from the last checkpoint in output_dir
    when `train.resume`), then save the model + tokenizer (LoRA merged: a plain model every consumer
    loads) and the manifest. Returns (trainer, the saved model, sides truncated, training loss)."""
    from transformers.trainer_utils import get_last_checkpoint

    config = inputs.config
    train_ds, eval_ds, n_truncated = datasets
    trainer = trainer_class(model=inputs.base, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                            processing_class=inputs.tokenizer, **trainer_kwargs)
    out = config.output_dir
    checkpoint = get_last_checkpoint(out) if config.train.resume and Path(out).is_dir() else None
    if checkpoint:
        log.warning("resuming from %s", checkpoint)
    loss = getattr(trainer.train(resume_from_checkpoint=checkpoint), "training_loss", None)
    model: Any = trainer.model
    if config.lora.enabled:  # LoRA is meant for single-device runs
        model = model.merge_and_unload()
        if trainer.is_world_process_zero():
            model.save_pretrained(out)
            inputs.tokenizer.save_pretrained(out)
    else:
        trainer.save_model(out)  # gathers ZeRO-3 shards; saves the tokenizer too
    if trainer.is_world_process_zero():
        write_manifest(out, inputs.manifest)
    return trainer, model, n_truncated, loss


def check_config(config: RMTrainConfig) -> None:
    """What `pgrpo rm train --check` validates without loading a model: the pairs files exist, and
    every trainer argument is a field of this TRL's config for the head (so a key that one
    transformers/TRL version lacks fails here, not after the base model has loaded)."""
    from trl import DPOConfig, RewardConfig

    for key, path in (("data.train", config.data.train), ("data.eval", config.data.eval),
                      ("train.deepspeed", config.train.deepspeed)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{key}: file {path!r} not found")
    trl_config = DPOConfig if config.head.kind == "implicit" else RewardConfig
    fields = {f.name for f in dataclasses.fields(trl_config)}
    unknown = sorted(set(trainer_arguments(config, has_eval=True)) - fields)
    if unknown:
        raise ConfigError(f"train: {', '.join(unknown)} not accepted by this TRL's {trl_config.__name__}")


def fit_scalar(inputs: FitInputs) -> Fitted:
    """TRL's RewardTrainer on a sequence-classification model (a fresh scalar head on `base`)."""
    from trl import RewardConfig, RewardTrainer

    config, tokenizer = inputs.config, inputs.tokenizer
    args = RewardConfig(center_rewards_coefficient=config.train.center_rewards_coefficient,
                        **trainer_arguments(config, bool(inputs.heldout_pairs)))
    datasets = tokenized(inputs, functools.partial(encode_rm_input, tokenizer))
    trainer, model, n_truncated, loss = train_and_save(inputs, RewardTrainer, args, datasets,
                                                       peft_config=peft_config_for(config, "SEQ_CLS"))
    scorer = RewardScorer(config.output_dir, batch_size=config.score_batch_size,
                          max_length=config.train.max_length, device=str(next(model.parameters()).device),
                          head=ScalarHead(model, tokenizer), manifest=inputs.manifest)
    return Fitted(scorer, trainer, n_truncated, loss)


def collate_sides(examples: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """DPOTrainer's batch (chosen rows, then rejected rows; right padding): `completion_mask`
    marks each row's response tokens, from its own start."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    sides = [(side, x) for side in ("chosen", "rejected") for x in examples]
    ids = [torch.tensor(x[f"{side}_ids"], dtype=torch.long) for side, x in sides]
    completion = [(torch.arange(len(row)) >= x[f"{side}_start"]).long() for row, (side, x) in zip(ids, sides)]
    return {"input_ids": pad_sequence(ids, batch_first=True, padding_value=pad_token_id),
            "attention_mask": pad_sequence([torch.ones_like(row) for row in ids], batch_first=True),
            "completion_mask": pad_sequence(completion, batch_first=True)}


def _trainer_class() -> type:
    from trl import DPOTrainer

    class SideEncodedDPOTrainer(DPOTrainer):
        """DPOTrainer on `tokenize_pairs` columns, batched by `collate_sides` (TRL's
        own preparation would tokenize prompt + response as one string and append an EOS)."""

        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            return dataset

        def _set_signature_columns_if_needed(self) -> None:
            if self._signature_columns is None:  # transformers declares it None-typed
                self._signature_columns = ["chosen_ids", "chosen_start", "rejected_ids", "rejected_start"]  # type: ignore[assignment]

    return SideEncodedDPOTrainer


def _save_reference(base: str, out: Path, dtype: str) -> Path:
    """The frozen starting model under out/reference, written to a temporary directory and
    renamed (an interrupted save never passes for a reference), by the main process only. A
    reference saved from another base is refused (the marker file names its base)."""
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reference = out / REFERENCE_DIR
    marker = reference / REFERENCE_SOURCE_FILE
    with PartialState().main_process_first():
        if reference.is_dir():
            try:
                saved_from = json.loads(marker.read_text(encoding="utf-8")).get("base")
            except (OSError, ValueError, AttributeError):
                saved_from = None
            if saved_from != base:
                raise PgrpoError(f"output_dir: {reference} was saved from {saved_from!r}, this run's model.path is "
                                 f"{base!r}; use another output_dir")
        else:
            partial = out / f"{REFERENCE_DIR}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            try:
                AutoModelForCausalLM.from_pretrained(base, dtype=dtype).save_pretrained(partial)
                AutoTokenizer.from_pretrained(base).save_pretrained(partial)
                (partial / REFERENCE_SOURCE_FILE).write_text(json.dumps({"base": base}) + "\n", encoding="utf-8")
            except OSError as exc:
                raise PgrpoError(f"model.path: cannot load a causal LM from {base!r} for the implicit head: "
                                 f"{exc}") from exc
            partial.rename(reference)
    return reference


def fit_implicit(inputs: FitInputs) -> Fitted:
    """Train the implicit head on DPOTrainer; save policy, reference/ and the manifest."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig

    config, tokenizer = inputs.config, inputs.tokenizer
    out = Path(config.output_dir)
    encode = functools.partial(encode_implicit, tokenizer, style=config.head.prompt_style)
    datasets = tokenized(inputs, encode)  # a bad pair fails before the reference copy is written
    reference_dir = _save_reference(inputs.base, out, config.model.dtype)
    peft_config = peft_config_for(config, "CAUSAL_LM")
    # With LoRA, TRL uses the adapter-disabled policy as the reference; else the saved copy.
    reference = None if peft_config else AutoModelForCausalLM.from_pretrained(
        reference_dir, **trainer_arguments(config, False)["model_init_kwargs"])
    # The sigmoid loss, -log sigmoid(score_c - score_r), is Bradley-Terry on the implicit score.
    args = DPOConfig(beta=config.head.beta, loss_type=["sigmoid"],
                     **trainer_arguments(config, bool(inputs.heldout_pairs)))
    collate = functools.partial(collate_sides, pad_token_id=tokenizer.pad_token_id)
    trainer, _, n_truncated, loss = train_and_save(inputs, _trainer_class(), args, datasets,
                                                   ref_model=reference, data_collator=collate,
                                                   peft_config=peft_config)
    trainer.accelerator.wait_for_everyone()  # every rank reads what rank 0 wrote
    device = str(next(trainer.model.parameters()).device)
    # Free the reference and optimizer state before the held-out check loads the saved directory
    # (as `rm eval` and RL will); the trainer keeps its policy (its `log` reads it).
    del reference
    trainer.ref_model, trainer.optimizer, trainer.lr_scheduler = None, None, None
    trainer.accelerator.free_memory()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    scorer = RewardScorer(str(out), batch_size=config.score_batch_size, max_length=config.train.max_length,
                          device=device, dtype=config.model.dtype)
    return Fitted(scorer, trainer, n_truncated, loss)


FITS: dict[str, Callable[[FitInputs], Fitted]] = {"scalar": fit_scalar, "implicit": fit_implicit}
