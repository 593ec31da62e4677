"""Bradley-Terry reward-model training on preference pairs (`pgrpo rm train`): load and split the
pairs, run the head's fit function (pgrpo.rm.fitting), which saves the model and the manifest,
then write `metrics.json` with held-out accuracy overall / per pair_type / per dimension.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgrpo.config import to_dict
from pgrpo.data.io import write_text_atomic
from pgrpo.errors import PgrpoError
from pgrpo.hf_loading import ensure_pad_token
from pgrpo.rm.config import RMTrainConfig
from pgrpo.rm.data import Pair, load_pairs, split_pairs
from pgrpo.rm.fitting import FITS, FitInputs
from pgrpo.rm.manifest import (
    MANIFEST_FILE,
    REFERENCE_DIR,
    ImplicitParams,
    RMManifest,
    read_manifest,
    training_include_code,
)
from pgrpo.rm.metrics import Accuracy, accuracy, grouped_accuracy
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.template import rm_input_text

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
    manifest: RMManifest
    include_code_source: str  # how the manifest's include_code was decided
    skipped_lines: list[str] = field(default_factory=list)


def evaluate_pairs(scorer: RewardScorer, pairs: Sequence[Pair], *, n_boot: int = 1000,
                   seed: int = 0) -> HeldoutMetrics:
    """Held-out accuracy of `scorer` on `pairs`, overall and per pair_type / dimension."""
    items = [RMItem.from_side(pair.prompt, side) for pair in pairs for side in (pair.chosen, pair.rejected)]
    raw = scorer.raw_scores(items)
    chosen, rejected = raw[0::2], raw[1::2]
    return HeldoutMetrics(
        accuracy(chosen, rejected, n_boot=n_boot, seed=seed),
        grouped_accuracy([p.pair_type for p in pairs], chosen, rejected, n_boot=n_boot, seed=seed),
        grouped_accuracy([p.dimension for p in pairs], chosen, rejected, n_boot=n_boot, seed=seed),
    )


def _build_tiny_base(config: RMTrainConfig, pairs: Sequence[Pair]) -> str:
    """A tiny causal-LM checkpoint with a BPE trained on the pairs' RM texts (reused on resume)."""
    from pgrpo.tiny import build_tiny_model, build_tokenizer

    out = Path(config.output_dir) / "tiny-base"
    if (out / "config.json").is_file():
        return str(out)
    corpus = [rm_input_text(p.prompt, side) for p in pairs for side in (p.chosen, p.rejected)]
    tokenizer = build_tokenizer(corpus, vocab_size=config.model.tiny_vocab_size)
    build_tiny_model(out, tokenizer=tokenizer, seed=config.seed,
                     hidden_size=config.model.tiny_hidden_size, num_layers=config.model.tiny_layers)
    return str(out)


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


def train_reward_model(config: RMTrainConfig, include_code: str = "auto") -> TrainResult:
    """Train, save model + tokenizer + the manifest (pgrpo_rm.json) + metrics.json to config.output_dir.

    include_code: "true" / "false" / "auto" (the pairs' pgrpo_pairs.json, else detected): whether
    the RM reads the sides' code; recorded in the manifest, which every consumer reads.
    """
    from transformers import AutoTokenizer

    started = time.monotonic()
    out = Path(config.output_dir)
    _refuse_other_head(out, config.head.kind)
    out.mkdir(parents=True, exist_ok=True)
    train_pairs, heldout_pairs, skipped = _load_data(config)
    with_code, source = training_include_code(config.data.train, include_code)
    for line in skipped:
        log.warning("skipped malformed pair %s", line)
    (out / "rm_train_config.json").write_text(json.dumps(to_dict(config), indent=2), encoding="utf-8")

    base = _build_tiny_base(config, train_pairs) if config.model.tiny else config.model.path
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except OSError as exc:
        raise PgrpoError(f"model.path: cannot load tokenizer from {base!r}: {exc}") from exc
    ensure_pad_token(tokenizer)
    manifest = RMManifest(
        head=config.head.kind, base_model="pgrpo.tiny" if config.model.tiny else config.model.path,
        include_code=with_code, max_length=config.train.max_length, train_pairs=len(train_pairs),
        heldout_pairs=len(heldout_pairs),
        implicit=ImplicitParams(config.head.beta, config.head.prompt_style) if config.head.kind == "implicit" else None)
    fitted = FITS[config.head.kind](FitInputs(config, base, tokenizer, train_pairs, heldout_pairs, manifest))
    if fitted.n_truncated:
        log.warning("%d pair sides exceeded %d tokens and were truncated", fitted.n_truncated,
                    config.train.max_length)

    heldout = None
    if heldout_pairs:
        heldout = evaluate_pairs(fitted.scorer, heldout_pairs, seed=config.seed)
        logged = {"heldout_accuracy": heldout.overall.accuracy}
        logged.update({f"heldout_accuracy/{k}": v.accuracy for k, v in heldout.by_pair_type.items()})
        logged.update({f"heldout_accuracy/{k}": v.accuracy for k, v in heldout.by_dimension.items()})
        fitted.trainer.log(logged)  # to TensorBoard next to the training curves
    result = TrainResult(str(out), len(train_pairs), len(heldout_pairs), len(skipped), fitted.n_truncated,
                         fitted.train_loss, round(time.monotonic() - started, 2), heldout, manifest, source,
                         skipped)
    if fitted.trainer.is_world_process_zero():
        write_text_atomic(out / "metrics.json", json.dumps(dataclasses.asdict(result), indent=2))
    return result


def _refuse_other_head(out: Path, kind: str) -> None:
    """An output_dir that already holds an RM of the other head would mix files (and resume
    the other head's checkpoints): refuse it, naming both. A finished RM says its head in its
    manifest; an unfinished implicit run has its reference/ (saved before training starts)."""
    if (out / MANIFEST_FILE).is_file():
        found: str | None = read_manifest(out).head
    elif (out / REFERENCE_DIR).is_dir():
        found = "implicit"
    else:
        found = "scalar" if any(out.glob("checkpoint-*")) else None
    if found is not None and found != kind:
        raise PgrpoError(f"output_dir: {out} holds a reward model with head.kind={found}; this run trains "
                         f"head.kind={kind}: use another output_dir")
