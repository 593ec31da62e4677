"""Training the implicit reward head (`head.kind: implicit`) on TRL's DPOTrainer.

Owns the "implicit" fit function of `pgrpo.rm.train`: tokenize each pair's sides with
`pgrpo.rm.implicit.encode_implicit` (the tokenization `RewardScorer` uses: TRL's own would
append an EOS after the reasoning and tokenize prompt + response as one string), hand
`prompt_ids` / `chosen_ids` / `rejected_ids` to a DPOTrainer that skips its text preparation,
then save the trained policy + tokenizer, the frozen reference under `reference/` (so the RM
directory is self-contained) and `pgrpo_implicit_rm.json`. The DPO loss with beta is the
Bradley-Terry loss on the implicit score (see `pgrpo.rm.implicit`). Resumable like the scalar
head: Trainer checkpoints in output_dir are picked up on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from pgrpo.errors import PgrpoError
from pgrpo.rm.data import Pair
from pgrpo.rm.implicit import REFERENCE_DIR, ImplicitSpec, encode_implicit
from pgrpo.rm.scoring import RewardScorer
from pgrpo.rm.template import split_response
from pgrpo.rm.train import RM_FITTERS, FitInputs, Fitted, last_checkpoint, trainer_arguments

log = logging.getLogger(__name__)


def tokenize_implicit_pairs(tokenizer, pairs: Sequence[Pair], style: str, include_code: bool,
                            max_length: int):
    """DPOTrainer's pre-tokenized columns, and how many sides were truncated. Both sides keep
    the same prompt ids (the prompt is cut only when a side is long, by the shorter budget)."""
    from datasets import Dataset

    columns: dict[str, list] = {"prompt_ids": [], "chosen_ids": [], "rejected_ids": []}
    truncated = 0
    for pair in pairs:
        sides = []
        for side in (pair.chosen, pair.rejected):
            reasoning, code = split_response(side)
            sides.append(encode_implicit(tokenizer, pair.prompt, reasoning, code if include_code else None,
                                         style, max_length))
        truncated += sum(s.truncated for s in sides)
        start = min(s.start for s in sides)
        columns["prompt_ids"].append(sides[0].input_ids[:start])
        columns["chosen_ids"].append(sides[0].input_ids[start:])
        columns["rejected_ids"].append(sides[1].input_ids[start:])
    return Dataset.from_dict(columns), truncated


def _dpo_config(inputs: FitInputs, has_eval: bool):
    from trl import DPOConfig

    # The sigmoid loss, -log sigmoid(score_c - score_r), is Bradley-Terry on the implicit score.
    return DPOConfig(beta=inputs.config.head.beta, loss_type=["sigmoid"],
                     **trainer_arguments(inputs.config, has_eval))


def _trainer_class():
    from trl import DPOTrainer

    class PretokenizedDPOTrainer(DPOTrainer):
        """DPOTrainer on columns already tokenized by `tokenize_implicit_pairs`."""

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

    return PretokenizedDPOTrainer


def _save_reference(base: str, out: Path, dtype: str) -> Path:
    """The frozen starting model, saved once under out/reference (kept on resume)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reference = out / REFERENCE_DIR
    if not (reference / "config.json").is_file():
        try:
            AutoModelForCausalLM.from_pretrained(base, dtype=dtype).save_pretrained(reference)
            AutoTokenizer.from_pretrained(base).save_pretrained(reference)
        except OSError as exc:
            raise PgrpoError(f"model.path: cannot load a causal LM from {base!r} for the implicit head: {exc}") from exc
    return reference


@RM_FITTERS.register("implicit")
def fit_implicit(inputs: FitInputs) -> Fitted:
    from transformers import AutoModelForCausalLM

    config, tokenizer = inputs.config, inputs.tokenizer
    if config.data.use_margin:
        raise PgrpoError("data.use_margin: pair margins are supported by head.kind=scalar only")
    out = Path(config.output_dir)
    style, max_length = config.head.prompt_style, config.train.max_length
    train_ds, n_trunc = tokenize_implicit_pairs(tokenizer, inputs.train_pairs, style, inputs.include_code,
                                                max_length)
    eval_ds, n_trunc_eval = (tokenize_implicit_pairs(tokenizer, inputs.heldout_pairs, style, inputs.include_code,
                                                     max_length) if inputs.heldout_pairs else (None, 0))
    reference_dir = _save_reference(inputs.base, out, config.model.dtype)
    peft_config = None
    if config.lora.enabled:
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="CAUSAL_LM", r=config.lora.r, lora_alpha=config.lora.alpha,
                                 lora_dropout=config.lora.dropout, target_modules=list(config.lora.target_modules))
    # With LoRA, TRL uses the adapter-disabled policy as the reference; else the saved copy.
    reference = None if peft_config else AutoModelForCausalLM.from_pretrained(reference_dir, dtype=config.model.dtype)
    trainer = _trainer_class()(
        model=inputs.base,
        ref_model=reference,
        args=_dpo_config(inputs, eval_ds is not None),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    train_output = trainer.train(resume_from_checkpoint=last_checkpoint(config))
    if config.lora.enabled:
        model = trainer.model.merge_and_unload()
        if trainer.is_world_process_zero():
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
    else:
        trainer.save_model(str(out))
    spec = ImplicitSpec(config.head.beta, style)
    if trainer.is_world_process_zero():
        spec.write(out)
    # The held-out check reads the saved directory, as `rm eval` and RL will.
    scorer = RewardScorer(str(out), batch_size=config.score_batch_size, max_length=max_length,
                          device=str(next(trainer.model.parameters()).device), dtype=config.model.dtype)
    return Fitted(scorer, getattr(train_output, "training_loss", None), n_trunc + n_trunc_eval, trainer.log,
                  trainer.is_world_process_zero())
