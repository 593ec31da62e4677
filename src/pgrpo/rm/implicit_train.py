"""Training the implicit reward head (`head.kind: implicit`) on TRL's DPOTrainer.

Owns the "implicit" fit function of `pgrpo.rm.train`: each pair side is encoded alone with
`pgrpo.rm.implicit.encode_implicit`, as `RewardScorer` encodes it (TRL's own preparation would
append an EOS after the reasoning, tokenize prompt + response as one string, and share one
prompt cut between the sides), batched by `collate_sides`; then the trained policy, the frozen
reference under `reference/` (so the RM directory is self-contained) and the manifest are
saved. DPO's sigmoid loss is the Bradley-Terry loss on the implicit score. Resumable.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from pgrpo.errors import PgrpoError
from pgrpo.rm.fitting import (
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

log = logging.getLogger(__name__)

REFERENCE_SOURCE_FILE = "pgrpo_reference_source.json"  # in reference/: the base it was saved from


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


def fit_implicit(inputs: FitInputs) -> Fitted:
    """Train the implicit head on DPOTrainer; save policy, reference/ and the manifest."""
    import gc

    import torch
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig

    config, tokenizer = inputs.config, inputs.tokenizer
    out = Path(config.output_dir)
    train_ds, eval_ds, n_truncated = inputs.datasets(
        functools.partial(encode_implicit, tokenizer, style=config.head.prompt_style))
    reference_dir = _save_reference(inputs.base, out, config.model.dtype)
    peft_config = peft_config_for(config, "CAUSAL_LM")
    # With LoRA, TRL uses the adapter-disabled policy as the reference; else the saved copy.
    reference = None if peft_config else AutoModelForCausalLM.from_pretrained(
        reference_dir, **trainer_arguments(config, False)["model_init_kwargs"])
    trainer = _trainer_class()(
        model=inputs.base,
        ref_model=reference,
        # The sigmoid loss, -log sigmoid(score_c - score_r), is Bradley-Terry on the implicit score.
        args=DPOConfig(beta=config.head.beta, loss_type=["sigmoid"],
                       **trainer_arguments(config, eval_ds is not None)),
        data_collator=functools.partial(collate_sides, pad_token_id=tokenizer.pad_token_id),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
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
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    scorer = RewardScorer(str(out), batch_size=config.score_batch_size, max_length=config.train.max_length,
                          device=device, dtype=config.model.dtype)
    return Fitted(scorer, getattr(train_output, "training_loss", None), n_truncated, trainer.log,
                  trainer.is_world_process_zero())
