"""What the demo reads off a set of judged samples: pass rates by task class, shortcut rates, R_t
on passing vs failing samples, oracle quality.

Owns `SampleRecord` (one judged sample: its task's class, pass/fail, oracle quality, valid and
invalid sign shortcuts, the RM's thinking score R_t), `records_of` (building them), `rm_scores`
(R_t of reasoning-only items with the trained RM, as the training reward scores them) and
`Readouts` / `summarize` (the means the report prints). The same readouts serve the per-step
training curves (pgrpo_toy.curves) and the final evaluation on the test split (every mode is
scored by the same RM, so outcome-only runs get an R_t too).
Rates are shares of all samples: `invalid_shortcut_rate` = share with at least one invalid skip.
`passed` is the strong-test verdict; `weak_passed` the weak tests' (the weak world's training
reward; None where no weak verdict was taken): a false pass passes the weak tests and fails the
strong ones. `hidden` marks hidden-trap tasks (pgrpo_toy.world.hidden_trap).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pgrpo.data import Problem


@dataclass(frozen=True)
class SampleRecord:
    task_id: str
    task_class: str  # pgrpo_toy.world.task_class: trap | safe | plain
    passed: bool
    quality: float
    valid_skips: int
    invalid_skips: int
    rt: float | None = None
    hidden: bool = False
    weak_passed: bool | None = None

    @property
    def false_pass(self) -> bool:
        return bool(self.weak_passed) and not self.passed


def records_of(problems: Sequence[Problem], reasonings: Sequence[str], passed: Sequence[bool],
               rts: Sequence[float | None] | None = None,
               weak_passed: Sequence[bool | None] | None = None) -> list[SampleRecord]:
    """One record per (problem, reasoning, strong verdict) triple, graded by the exact oracle."""
    from pgrpo_toy.oracle import grade, shortcut_counts
    from pgrpo_toy.world import hidden_trap, task_class, task_of

    rts = rts if rts is not None else [None] * len(problems)
    weak = weak_passed if weak_passed is not None else [None] * len(problems)
    out = []
    hidden: dict[str, bool] = {}
    for problem, reasoning, ok, rt, w in zip(problems, reasonings, passed, rts, weak, strict=True):
        task = task_of(problem)
        counts = shortcut_counts(task, reasoning)
        if problem.task_id not in hidden:
            hidden[problem.task_id] = hidden_trap(task)
        out.append(SampleRecord(problem.task_id, task_class(task), bool(ok), grade(task, reasoning).quality,
                                counts.valid, counts.invalid, rt, hidden[problem.task_id],
                                None if w is None else bool(w)))
    return out


def rm_scores(rm_path: str, statements: Sequence[str], reasonings: Sequence[str],
              max_length: int = 256) -> list[float]:
    """R_t of each reasoning (the trained RM's score, reasoning-only items)."""
    if not statements:
        return []
    from pgrpo.rm import RewardScorer, RMItem

    scorer = RewardScorer(rm_path, batch_size=64, max_length=max_length, device="cpu")
    return list(scorer.score([RMItem(s, r) for s, r in zip(statements, reasonings, strict=True)]))


def rounded_mean(values: Sequence[float | None]) -> float | None:
    """The mean of the known values, to 4 places; None when there is none (the readouts' one rule)."""
    known = [v for v in values if v is not None]
    return round(statistics.fmean(known), 4) if known else None


@dataclass(frozen=True)
class Readouts:
    """Means over a set of samples; None where no sample qualifies (e.g. no failing sample)."""

    samples: int
    pass_at_1: float | None
    trap_pass_at_1: float | None
    other_pass_at_1: float | None
    rt_passing: float | None
    rt_failing: float | None
    valid_shortcut_rate: float | None
    invalid_shortcut_rate: float | None
    reasoning_quality: float | None
    hidden_pass_at_1: float | None = None  # strong-test pass@1 on hidden-trap tasks (the study's endpoint)
    weak_pass_at_1: float | None = None
    false_pass_rate: float | None = None  # share of samples passing the weak tests and failing the strong
    rt_true_pass: float | None = None
    rt_false_pass: float | None = None
    # Evaluation noise: standard error of pass@1 over tasks (each task's mean pass rate is one
    # unit, samples of a task are not independent); None below two tasks.
    pass_at_1_se: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(records: Sequence[SampleRecord]) -> Readouts:
    trap = [r for r in records if r.task_class == "trap"]
    other = [r for r in records if r.task_class != "trap"]
    return Readouts(
        samples=len(records),
        pass_at_1=rounded_mean([float(r.passed) for r in records]),
        trap_pass_at_1=rounded_mean([float(r.passed) for r in trap]),
        other_pass_at_1=rounded_mean([float(r.passed) for r in other]),
        rt_passing=rounded_mean([r.rt for r in records if r.passed and r.rt is not None]),
        rt_failing=rounded_mean([r.rt for r in records if not r.passed and r.rt is not None]),
        valid_shortcut_rate=rounded_mean([float(r.valid_skips > 0) for r in records]),
        invalid_shortcut_rate=rounded_mean([float(r.invalid_skips > 0) for r in records]),
        reasoning_quality=rounded_mean([r.quality for r in records]),
        hidden_pass_at_1=rounded_mean([float(r.passed) for r in records if r.hidden]),
        weak_pass_at_1=rounded_mean([float(r.weak_passed) for r in records if r.weak_passed is not None]),
        false_pass_rate=rounded_mean([float(r.false_pass) for r in records if r.weak_passed is not None]),
        rt_true_pass=rounded_mean([r.rt for r in records if r.passed and r.weak_passed is not False]),
        rt_false_pass=rounded_mean([r.rt for r in records if r.false_pass]),
        pass_at_1_se=task_clustered_se(records),
    )


def per_task_pass(records: Sequence[SampleRecord]) -> dict[str, float]:
    """Strong-test pass rate per task id (the crossed bootstrap's unit)."""
    by_task: dict[str, list[float]] = {}
    for r in records:
        by_task.setdefault(r.task_id, []).append(float(r.passed))
    return {task: round(statistics.fmean(v), 6) for task, v in by_task.items()}


def task_clustered_se(records: Sequence[SampleRecord]) -> float | None:
    """Standard error of the mean pass rate with tasks as the unit: sd of per-task pass rates / sqrt(tasks)."""
    by_task: dict[str, list[float]] = {}
    for r in records:
        by_task.setdefault(r.task_id, []).append(float(r.passed))
    if len(by_task) < 2:
        return None
    rates = [statistics.fmean(v) for v in by_task.values()]
    se: float = statistics.stdev(rates) / len(rates) ** 0.5
    return round(se, 4)
