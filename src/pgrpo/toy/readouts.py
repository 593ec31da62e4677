"""What the demo reads off a set of judged samples: pass rates by task class, shortcut rates, R_t
on passing vs failing samples, oracle quality.

Owns `SampleRecord` (one judged sample: its task's class, pass/fail, oracle quality, valid and
invalid sign shortcuts, the RM's thinking score R_t), `records_of` (building them), `rm_scores`
(R_t of reasoning-only items with the trained RM, as the training reward scores them) and
`Readouts` / `summarize` (the means the report prints). The same readouts serve the per-step
training curves (pgrpo.toy.curves) and the final evaluation on the test split (every mode is
scored by the same RM, so outcome-only runs get an R_t too).
Rates are shares of all samples: `invalid_shortcut_rate` = share with at least one invalid skip.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pgrpo.data.problem import Problem


@dataclass(frozen=True)
class SampleRecord:
    task_id: str
    task_class: str  # pgrpo.toy.world.task_class: trap | safe | plain
    passed: bool
    quality: float
    valid_skips: int
    invalid_skips: int
    rt: float | None = None


def records_of(problems: Sequence[Problem], reasonings: Sequence[str], passed: Sequence[bool],
               rts: Sequence[float | None] | None = None) -> list[SampleRecord]:
    """One record per (problem, reasoning, passed) triple, graded by the exact oracle."""
    from pgrpo.toy.oracle import grade, shortcut_counts
    from pgrpo.toy.world import task_class, task_of

    rts = rts if rts is not None else [None] * len(problems)
    out = []
    for problem, reasoning, ok, rt in zip(problems, reasonings, passed, rts, strict=True):
        task = task_of(problem)
        counts = shortcut_counts(task, reasoning)
        out.append(SampleRecord(problem.task_id, task_class(task), bool(ok), grade(task, reasoning).quality,
                                counts.valid, counts.invalid, rt))
    return out


def rm_scores(rm_path: str, statements: Sequence[str], reasonings: Sequence[str],
              max_length: int = 256) -> list[float]:
    """R_t of each reasoning (the trained RM's score, reasoning-only items)."""
    if not statements:
        return []
    from pgrpo.rm.scoring import RewardScorer, RMItem

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
    # Evaluation noise: standard error of pass@1 over tasks (each task's mean pass rate is one
    # unit, samples of a task are not independent); None below two tasks.
    pass_at_1_se: float | None = None

    def as_dict(self) -> dict:
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
        pass_at_1_se=task_clustered_se(records),
    )


def task_clustered_se(records: Sequence[SampleRecord]) -> float | None:
    """Standard error of the mean pass rate with tasks as the unit: sd of per-task pass rates / sqrt(tasks)."""
    by_task: dict[str, list[float]] = {}
    for r in records:
        by_task.setdefault(r.task_id, []).append(float(r.passed))
    if len(by_task) < 2:
        return None
    rates = [statistics.fmean(v) for v in by_task.values()]
    return round(statistics.stdev(rates) / len(rates) ** 0.5, 4)
