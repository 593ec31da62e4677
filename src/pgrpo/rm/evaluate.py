"""Reward-model evaluation on preference benchmarks (`pgrpo rm eval`): a `PairEvaluator` gives each
pair (score_chosen, score_rejected) ("reward-model" here, "llm-judge" in pgrpo.rm.judge_eval);
accuracy with a 95% percentile bootstrap CI overall, per subset and per category, or by the
format's own rule (`BenchmarkFormat.aggregate`); the report as markdown and files.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import ConfigDict, Field

from pgrpo.config import KEY_VALUES, Flag, OptionsModel
from pgrpo.data.io import write_text_atomic
from pgrpo.errors import PgrpoError
from pgrpo.hf_loading import DTYPE_NAMES
from pgrpo.rm.bench_formats import BenchmarkFormat, Breakdown, EvalPair
from pgrpo.rm.manifest import MANIFEST_FILE
from pgrpo.rm.metrics import Accuracy, accuracy, grouped_accuracy
from pgrpo.rm.scoring import RewardScorer, RMItem


class PairEvaluator(Protocol):
    """Anything that can judge pairs: returns one (score_chosen, score_rejected) per pair."""

    name: str

    def compare(self, pairs: Sequence[EvalPair]) -> list[tuple[float, float]]: ...


class RawScorer(Protocol):
    """What RewardModelEvaluator scores with: a `RewardScorer` (raw scores, no sigmoid)."""

    def raw_scores(self, items: Sequence[RMItem]) -> list[float]: ...


class EvaluatorOptions(OptionsModel):
    """`pgrpo rm eval`'s evaluator options and their flags (errors name the flag); `extra` carries
    evaluator-specific `key=value` settings (`--option`)."""

    model_config = ConfigDict(frozen=True)

    model_path: Annotated[str | None, Flag("--model")] = Field(
        default=None, description="reward model directory (for --evaluator reward-model)")
    extra: Annotated[dict[str, str], KEY_VALUES, Flag("--option", metavar="KEY=VALUE", repeat=True)] = Field(
        default_factory=dict, description="evaluator-specific option (repeatable)")
    batch_size: int = Field(default=16, ge=1)
    max_length: int | None = Field(
        default=None, ge=1, description="tokens per input (default: the RM's training length)")
    device: str | None = None
    dtype: Annotated[str | None, Flag(choices=DTYPE_NAMES)] = None


@dataclass
class RewardModelEvaluator:
    """Scores both sides of every pair with a `RewardScorer` (raw scores: no sigmoid ties), on
    the RM's own layout (its manifest: an RM trained without code never sees the sides' code).
    Each distinct item is scored once (RM-Bench's 9 pairs per prompt share 6 responses); a score
    depends on the item alone, so which side or position it is shown in cannot matter."""

    scorer: RawScorer
    input_note: str = ""
    name: str = "reward-model"

    def compare(self, pairs: Sequence[EvalPair]) -> list[tuple[float, float]]:
        items = list(dict.fromkeys(item for pair in pairs for item in (pair.chosen, pair.rejected)))
        score = dict(zip(items, self.scorer.raw_scores(items)))
        return [(score[pair.chosen], score[pair.rejected]) for pair in pairs]


def reward_model_evaluator(options: EvaluatorOptions) -> PairEvaluator:
    if not options.model_path:
        raise PgrpoError("--model is required for the reward-model evaluator")
    scorer = RewardScorer(options.model_path, batch_size=options.batch_size, max_length=options.max_length,
                          device=options.device, dtype=options.dtype)
    code = " + code" if scorer.manifest.include_code else ""
    note = f"RM input: problem + reasoning{code} (model's {MANIFEST_FILE})"
    return RewardModelEvaluator(scorer, note)


@dataclass
class EvalReport:
    benchmark: str
    format: str
    evaluator: str
    overall: Accuracy
    subsets: dict[str, Accuracy]
    categories: dict[str, Accuracy]
    seed: int
    n_boot: int
    unit: str = "pairs"  # what `n` counts
    rule: str = "Ties count half."  # how the accuracy is computed (the format's)
    overall_label: str = "overall"  # the format's name for the overall row


def pairwise_breakdown(fmt: BenchmarkFormat, pairs: Sequence[EvalPair], scores: Sequence[tuple[float, float]],
                       n_boot: int, seed: int) -> Breakdown:
    """Pairwise accuracy (a tie earns `fmt.tie_credit`) overall, per subset and per category of `fmt`."""
    chosen = [c for c, _ in scores]
    rejected = [r for _, r in scores]
    subsets = [p.subset for p in pairs]
    tie = fmt.tie_credit
    categories: dict[str, Accuracy] = {}
    for cat, patterns in fmt.categories:
        idx = [i for i, s in enumerate(subsets) if any(fnmatch.fnmatchcase(s, pat) for pat in patterns)]
        if idx:
            categories[cat] = accuracy([chosen[i] for i in idx], [rejected[i] for i in idx], tie_credit=tie,
                                       n_boot=n_boot, seed=seed)
    return Breakdown(accuracy(chosen, rejected, tie_credit=tie, n_boot=n_boot, seed=seed),
                     grouped_accuracy(subsets, chosen, rejected, tie_credit=tie, n_boot=n_boot, seed=seed),
                     categories)


def evaluate(evaluator: PairEvaluator, pairs: Sequence[EvalPair], fmt: BenchmarkFormat, benchmark: str, *,
             n_boot: int = 1000, seed: int = 0) -> tuple[EvalReport, list[tuple[float, float]]]:
    """Run `evaluator` on `pairs`; return the report and the per-pair scores (in pair order)."""
    scores = evaluator.compare(pairs)
    if len(scores) != len(pairs):
        raise RuntimeError(f"evaluator {evaluator.name!r} returned {len(scores)} results for {len(pairs)} pairs")
    if fmt.aggregate is not None:
        result = fmt.aggregate(pairs, scores, n_boot, seed)
    else:
        result = pairwise_breakdown(fmt, pairs, scores, n_boot, seed)
    report = EvalReport(benchmark, fmt.name, evaluator.name, result.overall, result.subsets, result.categories,
                        seed, n_boot, fmt.unit, fmt.rule, fmt.overall_label)
    return report, scores


def _row(name: str, acc: Accuracy) -> str:
    return (f"| {name} | {acc.n} | {100 * acc.accuracy:.1f} | {100 * acc.ci_low:.1f} - {100 * acc.ci_high:.1f} "
            f"| {acc.ties} |")


def render_markdown(report: EvalReport) -> str:
    lines = [f"### {report.evaluator} on {report.benchmark} ({report.format})", "",
             f"| subset | {report.unit} | accuracy % | 95% CI | ties |", "|---|---|---|---|---|",
             _row(f"**{report.overall_label}**", report.overall)]
    lines += [_row(f"*{name}*", acc) for name, acc in report.categories.items()]
    if len(report.subsets) > 1:
        lines += [_row(name, acc) for name, acc in report.subsets.items()]
    lines += ["", f"{report.rule} CI: percentile bootstrap, {report.n_boot} resamples, seed {report.seed}."]
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: str | Path, report: EvalReport, pairs: Sequence[EvalPair],
                  scores: Sequence[tuple[float, float]]) -> None:
    """results.json, results.md and scores.jsonl (per pair) in out_dir, each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [json.dumps({"line": p.line, "id": p.pair_id, "subset": p.subset, "chosen": c, "rejected": r,
                        **({"slot": list(p.slot)} if p.slot else {})})
            for p, (c, r) in zip(pairs, scores)]
    for name, text in (("results.json", json.dumps(dataclasses.asdict(report), indent=2)),
                       ("results.md", render_markdown(report)),
                       ("scores.jsonl", "\n".join(rows) + "\n")):
        write_text_atomic(out / name, text)
