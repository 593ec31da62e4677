"""A reward model's accuracy on a toy LCB-RB, overall and per pair category.

Owns `PAIR_CATEGORIES`, `pair_category` (what a bench pair tests, read with the exact oracle) and
`score_lcb_rb(bench_file, rm_path, out_dir) -> LcbRbScore`: the RM scored as `pgrpo rm eval`
scores it (the reward-model evaluator on the RM's recorded layout: the toy pairs are
reasoning-only, so each side's code is left out), with the percentile bootstrap 95% interval of
`pgrpo.rm.metrics` overall and per category. The categories separate the pairs where a sign
shortcut decides the label, so an RM that likes shortcuts (the blind editor's) and one trained on
pass/fail labels are compared where each should be strong or weak, not only on the mix:
  - "invalid_skip_rejected": the rejected (failing) side skips a sign step invalidly;
  - "skip_chosen": the chosen side skips a sign step (validly: it passed the strong tests);
  - "other": neither (wrong constants, order, dropped steps, asides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAIR_CATEGORIES = ("invalid_skip_rejected", "skip_chosen", "other")


@dataclass(frozen=True)
class CategoryAccuracy:
    n: int
    accuracy: float | None
    ci95: tuple[float, float] | None


@dataclass(frozen=True)
class LcbRbScore:
    """Accuracy (ties half) with its bootstrap 95% interval, per category too; `input_note`: the
    evaluator's note on the RM input layout."""

    n: int
    accuracy: float
    ci95: tuple[float, float]
    categories: dict[str, CategoryAccuracy] = field(default_factory=dict)
    input_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy, "ci95": list(self.ci95), "input_note": self.input_note,
                "categories": {name: {"n": c.n, "accuracy": c.accuracy, "ci95": list(c.ci95) if c.ci95 else None}
                               for name, c in self.categories.items()}}


def pair_category(statement: str, chosen_reasoning: str, rejected_reasoning: str) -> str:
    """The PAIR_CATEGORIES label of one bench pair (a statement that is not a toy one: "other")."""
    from pgrpo_toy.oracle import shortcut_counts, task_from_statement

    task = task_from_statement(statement)
    if task is None:
        return "other"
    if shortcut_counts(task, rejected_reasoning).invalid:
        return "invalid_skip_rejected"
    chosen = shortcut_counts(task, chosen_reasoning)
    if chosen.valid or chosen.invalid:
        return "skip_chosen"
    return "other"


def categories_of(pairs: Sequence[Any]) -> list[str]:
    """PAIR_CATEGORIES label per `pgrpo.rm.benchmarks.EvalPair`."""
    return [pair_category(p.chosen.statement, p.chosen.reasoning, p.rejected.reasoning) for p in pairs]


def score_lcb_rb(bench_file: str | Path, rm_path: str, out_dir: str | Path) -> LcbRbScore:
    """Score the RM at `rm_path` on `bench_file` (see the module docstring); writes `pgrpo rm eval`'s
    outputs to `out_dir`."""
    from pgrpo.rm import (
        EvaluatorOptions,
        RewardModelEvaluator,
        evaluate_benchmark,
        grouped_accuracy,
        load_benchmark,
        reward_model_evaluator,
        write_outputs,
    )

    fmt, pairs = load_benchmark(bench_file)
    evaluator = reward_model_evaluator(EvaluatorOptions(model_path=rm_path, max_length=256))
    report, scores = evaluate_benchmark(evaluator, pairs, fmt, "toy-lcb-rb")
    write_outputs(Path(out_dir), report, pairs, scores)
    note = evaluator.input_note if isinstance(evaluator, RewardModelEvaluator) else ""
    labels = categories_of(pairs)
    grouped = grouped_accuracy(labels, [c for c, _ in scores], [r for _, r in scores])
    categories = {name: (CategoryAccuracy(grouped[name].n, grouped[name].accuracy,
                                          (grouped[name].ci_low, grouped[name].ci_high))
                         if name in grouped else CategoryAccuracy(0, None, None)) for name in PAIR_CATEGORIES}
    overall = report.overall
    return LcbRbScore(overall.n, overall.accuracy, (overall.ci_low, overall.ci_high), categories, note)
