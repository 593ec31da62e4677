"""Bradley-Terry reward-model training on preference pairs (`pgrpo rm train`), on TRL's RewardTrainer.

Owns the glue: load + validate pairs, split off held-out problems, tokenise both sides with the
shared RM template (`pgrpo.rm.template.encode_rm_input`, so training sees exactly what the
scorer will), hand pre-tokenised `chosen_ids`/`rejected_ids` to `trl.RewardTrainer` (loss
-log sigmoid(r_chosen - r_rejected [- margin])), then save a plain sequence-classification
model + tokenizer (LoRA merged) that `RewardScorer` loads, and `metrics.json` with held-out
accuracy overall / per pair_type / per dimension. TensorBoard logs go to output_dir/runs/<date>.
Resumable: Trainer checkpoints in output_dir are picked up on the next run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.config import to_dict
from pgrpo.data.io import write_text_atomic
from pgrpo.errors import PgrpoError
from pgrpo.registry import Registry
from pgrpo.rm.config import RMTrainConfig
from pgrpo.rm.data import Pair, load_pairs, split_pairs
from pgrpo.rm.metrics import Accuracy, accuracy, grouped_accuracy
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.template import encode_rm_input, rm_input_text, split_response

if TYPE_CHECKING:
    from pgrpo.rm.pairs import RMInputMeta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldoutMetrics:
    overall: Accuracy
    by_pair_type: dict[str, Accuracy]
    by_dimension: dict[str, Accuracy]


@dataclass
class TrainResult:
    output_dir: str
    n_train: int
    n_heldout: int
    n_skipped: int
    n_truncated: int
    train_loss: float | None
    runtime_s: float
    heldout: HeldoutMetrics | None
    skipped_lines: list[str] = field(default_factory=list)
    input_meta: RMInputMeta | None = None  # whether the RM reads code; also in pgrpo_rm.json

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def pair_items(pair: Pair) -> tuple[RMItem, RMItem]:
    """(chosen, rejected) RM items of a pair: prompt = statement, sides = reasoning [+ code
    section], split so each head encodes the code where it expects it."""
    return RMItem(pair.prompt, *split_response(pair.chosen)), RMItem(pair.prompt, *split_response(pair.rejected))


def evaluate_pairs(scorer: RewardScorer, pairs: Sequence[Pair], *, n_boot: int = 1000,
                   seed: int = 0) -> HeldoutMetrics:
    """Held-out accuracy of `scorer` on `pairs`, overall and per pair_type / dimension."""
    items = [item for pair in pairs for item in pair_items(pair)]
    raw = scorer.raw_scores(items)
    chosen, rejected = raw[0::2], raw[1::2]
    return HeldoutMetrics(
        accuracy(chosen, rejected, n_boot=n_boot, seed=seed),
        grouped_accuracy([p.pair_type for p in pairs], chosen, rejected, n_boot=n_boot, seed=seed),
        grouped_accuracy([p.dimension for p in pairs], chosen, rejected, n_boot=n_boot, seed=seed),
    )


def _tokenize_pairs(tokenizer, pairs: Sequence[Pair], max_length: int, use_margin: bool):
    """Pre-tokenised dataset columns for TRL, and how many sides were truncated."""
    from datasets import Dataset

    columns: dict[str, list] = {"chosen_ids": [], "rejected_ids": []}
    if use_margin:
        columns["margin"] = []
    truncated = 0
    for pair in pairs:
        chosen = encode_rm_input(tokenizer, pair.prompt, pair.chosen, max_length=max_length)
        rejected = encode_rm_input(tokenizer, pair.prompt, pair.rejected, max_length=max_length)
        truncated += chosen.truncated + rejected.truncated
        columns["chosen_ids"].append(chosen.input_ids)
        columns["rejected_ids"].append(rejected.input_ids)
        if use_margin:
            columns["margin"].append(pair.margin or 0.0)
    return Dataset.from_dict(columns), truncated


def _build_tiny_base(config: RMTrainConfig, pairs: Sequence[Pair]) -> str:
    """A tiny causal-LM checkpoint with a BPE trained on the pairs' RM texts (reused on resume)."""
    from pgrpo.tiny import build_tiny_model, build_tokenizer

    out = Path(config.output_dir) / "tiny-base"
    if (out / "config.json").is_file():
        return str(out)
    corpus = [rm_input_text(p.prompt, side) for p in pairs for side in (p.chosen, p.rejected)]
    tokenizer = build_tokenizer(corpus, vocab_size=config.model.tiny_vocab_size)
    build_tiny_model(out, kind="causal-lm", tokenizer=tokenizer, seed=config.seed,
                     hidden_size=config.model.tiny_hidden_size, num_layers=config.model.tiny_layers)
    return str(out)


def peft_config_for(config: RMTrainConfig, task_type: str):
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


def _reward_config(config: RMTrainConfig, has_eval: bool):
    from trl import RewardConfig

    return RewardConfig(center_rewards_coefficient=config.train.center_rewards_coefficient,
                        **trainer_arguments(config, has_eval))


def _load_data(config: RMTrainConfig) -> tuple[list[Pair], list[Pair], list[str]]:
    train_set = load_pairs(config.data.train, skip_bad=config.data.skip_bad)
    skipped = [str(b) for b in train_set.bad]
    if config.data.eval:
        eval_set = load_pairs(config.data.eval, skip_bad=config.data.skip_bad)
        skipped += [str(b) for b in eval_set.bad]
        return train_set.pairs, eval_set.pairs, skipped
    train, heldout = split_pairs(train_set.pairs, config.data.heldout_fraction, config.seed)
    if not train:
        raise PgrpoError(f"{config.data.train}: no training pairs left after the held-out split")
    return train, heldout, skipped


@dataclass
class FitInputs:
    """What a head's fit function gets: the base checkpoint, its tokenizer and the pairs."""

    config: RMTrainConfig
    base: str
    tokenizer: Any
    train_pairs: list[Pair]
    heldout_pairs: list[Pair]
    include_code: bool


@dataclass
class Fitted:
    """A trained and saved RM: a scorer for the held-out check, and the trainer's figures."""

    scorer: RewardScorer
    train_loss: float | None
    n_truncated: int
    log: Callable[[dict], None]  # to the trainer's loggers (TensorBoard)
    is_main_process: bool


RM_FITTERS: Registry[Callable[[FitInputs], Fitted]] = Registry("reward head")


def train_reward_model(config: RMTrainConfig, include_code: str = "auto") -> TrainResult:
    """Train, save model + tokenizer + metrics.json + pgrpo_rm.json to config.output_dir.

    include_code: "true" / "false" / "auto" (the pairs' pgrpo_pairs.json, else detected): whether
    the pair sides carry code; recorded in pgrpo_rm.json, which `rm eval` and the RL side read.
    The head (`config.head.kind`) picks the fit function: scalar (RewardTrainer, below) or
    implicit (`pgrpo.rm.implicit_train`, DPOTrainer).
    """
    from transformers import AutoTokenizer

    import pgrpo.rm.implicit_train  # noqa: F401 - registers the "implicit" fit function
    from pgrpo.rm.pairs import RM_META_FILE
    started = time.monotonic()
    out = Path(config.output_dir)
    _refuse_other_head(out, config.head.kind)
    out.mkdir(parents=True, exist_ok=True)
    train_pairs, heldout_pairs, skipped = _load_data(config)
    input_meta = train_input_meta(config.data.train, include_code)
    for line in skipped:
        log.warning("skipped malformed pair %s", line)
    (out / "rm_train_config.json").write_text(json.dumps(to_dict(config), indent=2), encoding="utf-8")

    base = _build_tiny_base(config, train_pairs) if config.model.tiny else config.model.path
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except OSError as exc:
        raise PgrpoError(f"model.path: cannot load tokenizer from {base!r}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    fitted = RM_FITTERS.get(config.head.kind)(
        FitInputs(config, base, tokenizer, train_pairs, heldout_pairs, input_meta.include_code))
    if fitted.n_truncated:
        log.warning("%d pair sides exceeded %d tokens and were truncated", fitted.n_truncated,
                    config.train.max_length)

    heldout = None
    if heldout_pairs:
        heldout = evaluate_pairs(fitted.scorer, heldout_pairs, seed=config.seed)
        logged = {"heldout_accuracy": heldout.overall.accuracy}
        logged.update({f"heldout_accuracy/{k}": v.accuracy for k, v in heldout.by_pair_type.items()})
        logged.update({f"heldout_accuracy/{k}": v.accuracy for k, v in heldout.by_dimension.items()})
        fitted.log(logged)  # to TensorBoard next to the training curves
    result = TrainResult(str(out), len(train_pairs), len(heldout_pairs), len(skipped), fitted.n_truncated,
                         fitted.train_loss, round(time.monotonic() - started, 2), heldout, skipped, input_meta)
    if fitted.is_main_process:
        input_meta.write(out / RM_META_FILE)
        write_text_atomic(out / "metrics.json", json.dumps(result.to_json(), indent=2))
    return result


def _refuse_other_head(out: Path, kind: str) -> None:
    """An output_dir that already holds an RM of the other head would mix files (and resume
    the other head's checkpoints): refuse it, naming both."""
    from pgrpo.rm.implicit import IMPLICIT_SPEC_FILE

    previous = out / "rm_train_config.json"
    found = None
    if previous.is_file():
        try:
            found = json.loads(previous.read_text(encoding="utf-8")).get("head", {}).get("kind", "scalar")
        except (OSError, ValueError, AttributeError):
            found = None
    if found is None and (out / IMPLICIT_SPEC_FILE).is_file():
        found = "implicit"
    if found is not None and found != kind:
        raise PgrpoError(f"output_dir: {out} holds a reward model with head.kind={found}; this run trains "
                         f"head.kind={kind}: use another output_dir")


def last_checkpoint(config: RMTrainConfig) -> str | None:
    """The Trainer checkpoint to resume from, if resuming is on and there is one."""
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(config.output_dir)
    checkpoint = get_last_checkpoint(str(out)) if config.train.resume and out.is_dir() else None
    if checkpoint:
        log.warning("resuming from %s", checkpoint)
    return checkpoint


@RM_FITTERS.register("scalar")
def _fit_scalar(inputs: FitInputs) -> Fitted:
    """TRL's RewardTrainer on a sequence-classification model (a fresh scalar head on `base`)."""
    from trl import RewardTrainer

    config, tokenizer, max_length = inputs.config, inputs.tokenizer, inputs.config.train.max_length
    train_ds, n_trunc = _tokenize_pairs(tokenizer, inputs.train_pairs, max_length, config.data.use_margin)
    eval_ds, n_trunc_eval = (_tokenize_pairs(tokenizer, inputs.heldout_pairs, max_length, config.data.use_margin)
                             if inputs.heldout_pairs else (None, 0))
    trainer = RewardTrainer(
        model=inputs.base,
        args=_reward_config(config, eval_ds is not None),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config_for(config, "SEQ_CLS"),
    )
    train_output = trainer.train(resume_from_checkpoint=last_checkpoint(config))

    model = trainer.model
    if config.lora.enabled:
        # Save a plain model RewardScorer can load (LoRA is meant for single-device runs).
        model = model.merge_and_unload()
        if trainer.is_world_process_zero():
            model.save_pretrained(config.output_dir)
            tokenizer.save_pretrained(config.output_dir)
    else:
        trainer.save_model(config.output_dir)  # gathers ZeRO-3 shards; saves the tokenizer too
    scorer = RewardScorer.from_model(model, tokenizer, batch_size=config.score_batch_size, max_length=max_length)
    return Fitted(scorer, getattr(train_output, "training_loss", None), n_trunc + n_trunc_eval, trainer.log,
                  trainer.is_world_process_zero())


def train_input_meta(train_path: str, choice: str = "auto"):
    """The RMInputMeta of a training pairs file: the flag, else its pgrpo_pairs.json, else detected."""
    from pgrpo.rm.data import load_pairs
    from pgrpo.rm.pairs import PAIRS_META_FILE, RMInputMeta, detect_include_code

    if choice != "auto":
        return RMInputMeta(choice == "true", "rm train --include-code")
    found = RMInputMeta.read(Path(train_path).parent / PAIRS_META_FILE)
    if found is not None:
        return RMInputMeta(found.include_code, f"{Path(train_path).parent / PAIRS_META_FILE}")
    pairs = load_pairs(train_path, skip_bad=True).pairs
    sides = [side for p in pairs for side in (p.chosen, p.rejected)]
    return RMInputMeta(detect_include_code(sides), "detected from the pairs' code sections")
