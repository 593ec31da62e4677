"""Training the implicit reward head (`head.kind: implicit`) on TRL's DPOTrainer.

Owns the "implicit" fit function of `pgrpo.rm.train`: encode each side of a pair alone with
`pgrpo.rm.implicit.encode_implicit` (the encoding `RewardScorer` uses: TRL's own would append an
EOS after the reasoning, tokenize prompt + response as one string, and share one prompt cut
between the sides), batch them with `collate_sides` into a DPOTrainer that skips its text
preparation, then save the trained policy + tokenizer, the frozen reference under `reference/` (so the RM
directory is self-contained) and the manifest (`pgrpo.rm.manifest`). The DPO loss with beta is the
Bradley-Terry loss on the implicit score (see `pgrpo.rm.implicit`). Resumable like the scalar
head: Trainer checkpoints in output_dir are picked up on the next run.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrpo.errors import PgrpoError
from pgrpo.rm.data import Pair
from pgrpo.rm.fitting import (
    RM_FITTERS,
    FitInputs,
    Fitted,
    last_checkpoint,
    peft_config_for,
    save_trained,
    trainer_arguments,
)
from pgrpo.rm.implicit import encode_implicit
from pgrpo.rm.manifest import REFERENCE_DIR
from pgrpo.rm.scoring import RewardScorer
from pgrpo.rm.template import split_response

log = logging.getLogger(__name__)

REFERENCE_SOURCE_FILE = "pgrpo_reference_source.json"  # in reference/: the base it was saved from


@dataclass(frozen=True)
class TokenizedPairs:
    """Training columns: each side's full ids and where its response starts, and how many
    sides the truncation policy cut."""

    dataset: Any
    truncated: int


def tokenize_implicit_pairs(tokenizer, pairs: Sequence[Pair], style: str, include_code: bool,
                            max_length: int) -> TokenizedPairs:
    """Each side encoded alone with `encode_implicit`, exactly as the scorer encodes an item
    (so when truncation cuts the prompt, each side keeps its own cut)."""
    from datasets import Dataset

    columns: dict[str, list] = {"chosen_ids": [], "chosen_start": [], "rejected_ids": [], "rejected_start": []}
    truncated = 0
    for pair in pairs:
        for name, side in (("chosen", pair.chosen), ("rejected", pair.rejected)):
            reasoning, code = split_response(side)
            encoded = encode_implicit(tokenizer, pair.prompt, reasoning, code if include_code else None,
                                      style, max_length)
            truncated += encoded.truncated
            columns[f"{name}_ids"].append(encoded.input_ids)
            columns[f"{name}_start"].append(encoded.start)
    return TokenizedPairs(Dataset.from_dict(columns), truncated)


def collate_sides(examples: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """DPOTrainer's batch (chosen rows, then rejected rows; right padding): `completion_mask`
    marks each row's response tokens, from its own start."""
    import torch

    rows = [(e[f"{side}_ids"], e[f"{side}_start"]) for side in ("chosen", "rejected") for e in examples]
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    completion_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, start) in enumerate(rows):
        input_ids[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[r, :len(ids)] = 1
        completion_mask[r, start:len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "completion_mask": completion_mask}


def _dpo_config(inputs: FitInputs, has_eval: bool) -> Any:
    from trl import DPOConfig

    # The sigmoid loss, -log sigmoid(score_c - score_r), is Bradley-Terry on the implicit score.
    return DPOConfig(beta=inputs.config.head.beta, loss_type=["sigmoid"],
                     **trainer_arguments(inputs.config, has_eval))


def _trainer_class() -> type:
    from trl import DPOTrainer

    class SideEncodedDPOTrainer(DPOTrainer):
        """DPOTrainer on `tokenize_implicit_pairs` columns, batched by `collate_sides` (TRL's
        own preparation would tokenize prompt + response as one string and append an EOS)."""

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

        def _set_signature_columns_if_needed(self):
            if self._signature_columns is None:
                self._signature_columns = ["chosen_ids", "chosen_start", "rejected_ids", "rejected_start"]

    return SideEncodedDPOTrainer


def _save_reference(base: str, out: Path, dtype: str) -> Path:
    """The frozen starting model under out/reference, written to a temporary directory and
    renamed (an interrupted save never passes for a reference), by the main process only. A
    reference saved from another base is refused (the marker file names its base)."""
    import json
    import shutil

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


def _release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@RM_FITTERS.register("implicit")
def fit_implicit(inputs: FitInputs) -> Fitted:
    """Train the implicit head on DPOTrainer; save policy, reference/ and the manifest."""
    from transformers import AutoModelForCausalLM

    config, tokenizer = inputs.config, inputs.tokenizer
    out = Path(config.output_dir)
    style, max_length, with_code = config.head.prompt_style, config.train.max_length, inputs.manifest.include_code
    train = tokenize_implicit_pairs(tokenizer, inputs.train_pairs, style, with_code, max_length)
    heldout = (tokenize_implicit_pairs(tokenizer, inputs.heldout_pairs, style, with_code, max_length)
               if inputs.heldout_pairs else None)
    reference_dir = _save_reference(inputs.base, out, config.model.dtype)
    peft_config = peft_config_for(config, "CAUSAL_LM")
    # With LoRA, TRL uses the adapter-disabled policy as the reference; else the saved copy.
    reference = None if peft_config else AutoModelForCausalLM.from_pretrained(
        reference_dir, **trainer_arguments(config, False)["model_init_kwargs"])
    args = _dpo_config(inputs, heldout is not None)
    trainer = _trainer_class()(
        model=inputs.base,
        ref_model=reference,
        args=args,
        data_collator=functools.partial(collate_sides, pad_token_id=tokenizer.pad_token_id),
        train_dataset=train.dataset,
        eval_dataset=heldout.dataset if heldout else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    train_output = trainer.train(resume_from_checkpoint=last_checkpoint(config))
    save_trained(trainer, inputs)
    trainer.accelerator.wait_for_everyone()  # every rank reads what rank 0 wrote
    device = str(next(trainer.model.parameters()).device)
    # Free the reference and optimizer state before the held-out check loads the saved directory
    # (as `rm eval` and RL will); the trainer keeps its policy (its `log` reads it).
    del reference
    trainer.ref_model, trainer.optimizer, trainer.lr_scheduler = None, None, None
    trainer.accelerator.free_memory()
    _release_memory()
    scorer = RewardScorer(str(out), batch_size=config.score_batch_size, max_length=max_length,
                          device=device, dtype=config.model.dtype)
    return Fitted(scorer, getattr(train_output, "training_loss", None),
                  train.truncated + (heldout.truncated if heldout else 0), trainer.log, trainer.is_world_process_zero())
