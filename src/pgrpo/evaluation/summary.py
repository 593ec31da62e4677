"""Aggregating per-sample verdicts into the evaluation summary.

Owns `EvalSummary` / `BenchmarkSummary` / `GroupScore`, `DateWindow` (`--lcb-window
START:END`) and `summarize`: pass@k (unbiased estimator, `pgrpo.evaluation.passk`) per
benchmark, per difficulty (LiveCodeBench easy/medium/hard) and per contest-date window,
avg@n (mean correctness over all samples, the math metric), format rate, status counts
and mean reasoning / answer length in tokens. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pgrpo.data.problem import parse_date
from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import EvalTask
from pgrpo.evaluation.passk import pass_at_k_report
from pgrpo.evaluation.records import ResultRecord, RunSettings

DEFAULT_KS = (1, 5, 10, 100)
DIFFICULTY_ORDER = ("easy", "medium", "hard")


@dataclass(frozen=True)
class DateWindow:
    """Inclusive contest-date window; a missing end is open."""

    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def label(self) -> str:
        return f"{self.start or ''}:{self.end or ''}"

    def contains(self, date: dt.date | None) -> bool:
        if date is None:
            return False
        return (self.start is None or date >= self.start) and (self.end is None or date <= self.end)

    @classmethod
    def parse(cls, text: str) -> DateWindow:
        """"2024-08-01:2025-01-31", "2024-08-01:" or ":2025-01-31" (ISO dates)."""
        start_s, sep, end_s = text.partition(":")
        if not sep:
            raise PgrpoError(f"--lcb-window {text!r}: expected START:END with ISO dates (either may be empty)")
        start = parse_date(start_s.strip(), "start", f"--lcb-window {text!r}")
        end = parse_date(end_s.strip(), "end", f"--lcb-window {text!r}")
        if start and end and start > end:
            raise PgrpoError(f"--lcb-window {text!r}: start is after end")
        return cls(start, end)


@dataclass(frozen=True)
class GroupScore:
    """pass@k over a set of tasks (a benchmark, a difficulty or a date window); tasks without
    samples are left out. `skipped_ks`: requested ks some task has too few samples for."""

    name: str
    num_tasks: int
    num_samples: int
    pass_at_k: dict[int, float]
    avg_at_n: float | None
    skipped_ks: tuple[int, ...] = ()


@dataclass(frozen=True)
class BenchmarkSummary:
    """One benchmark's scores. `missing_tasks`: tasks with no checked sample (not in pass@k)."""

    benchmark: str
    kind: str
    num_tasks: int
    num_samples: int
    min_samples_per_task: int
    pass_at_k: dict[int, float]
    skipped_ks: tuple[int, ...]
    avg_at_n: float | None
    missing_tasks: int
    format_ok_rate: float
    mean_reasoning_tokens: float
    mean_answer_tokens: float
    statuses: dict[str, int]
    by_difficulty: list[GroupScore] = field(default_factory=list)
    by_window: list[GroupScore] = field(default_factory=list)


@dataclass(frozen=True)
class EvalSummary:
    """The whole run. `token_counter` says how lengths were counted ("tokenizer:..." or "whitespace")."""

    settings: RunSettings | None
    token_counter: str
    benchmarks: list[BenchmarkSummary]


def _group(name: str, flags_by_task: dict[str, list[bool]], ks: Sequence[int]) -> GroupScore:
    present = {t: f for t, f in flags_by_task.items() if f}
    if not present:
        return GroupScore(name, 0, 0, {}, None, tuple(sorted(set(ks))))
    table = pass_at_k_report(present, ks)
    flags = [x for f in present.values() for x in f]
    return GroupScore(name, len(present), len(flags), dict(table.scores), sum(flags) / len(flags), table.skipped)


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize_benchmark(benchmark: str, tasks: Sequence[EvalTask], results: Iterable[ResultRecord],
                        ks: Sequence[int] = DEFAULT_KS,
                        windows: Sequence[DateWindow] = ()) -> BenchmarkSummary:
    """Aggregate `results` of `benchmark` over its `tasks` (results of other tasks are ignored)."""
    task_ids = {t.task_id for t in tasks}
    by_task: dict[str, list[ResultRecord]] = defaultdict(list)
    for r in results:
        if r.benchmark == benchmark and r.task_id in task_ids:
            by_task[r.task_id].append(r)
    flags = {t.task_id: [r.passed for r in sorted(by_task.get(t.task_id, []), key=lambda r: r.sample_index)]
             for t in tasks}
    records = [r for rs in by_task.values() for r in rs]
    overall = _group(benchmark, flags, ks)
    difficulties = {t.difficulty for t in tasks if t.difficulty}
    ordered = [d for d in DIFFICULTY_ORDER if d in difficulties] + sorted(difficulties - set(DIFFICULTY_ORDER))
    by_difficulty = [
        _group(level, {t.task_id: flags[t.task_id] for t in tasks if t.difficulty == level}, ks) for level in ordered
    ]
    by_window = [
        _group(w.label, {t.task_id: flags[t.task_id] for t in tasks if w.contains(t.contest_date)}, ks)
        for w in windows
    ]
    return BenchmarkSummary(
        benchmark=benchmark,
        kind=tasks[0].kind if tasks else "code",
        num_tasks=len(tasks),
        num_samples=len(records),
        min_samples_per_task=min((len(f) for f in flags.values() if f), default=0),
        pass_at_k=overall.pass_at_k,
        skipped_ks=overall.skipped_ks,
        avg_at_n=overall.avg_at_n,
        missing_tasks=len(tasks) - overall.num_tasks,
        format_ok_rate=_mean([int(r.format_ok) for r in records]),
        mean_reasoning_tokens=_mean([r.reasoning_tokens for r in records]),
        mean_answer_tokens=_mean([r.answer_tokens for r in records]),
        statuses=dict(sorted(Counter(r.status for r in records).items())),
        by_difficulty=by_difficulty,
        by_window=by_window,
    )


def summarize(tasks_by_benchmark: dict[str, list[EvalTask]], results: Sequence[ResultRecord], *,
              ks: Sequence[int] = DEFAULT_KS, windows: Sequence[DateWindow] = (),
              settings: RunSettings | None = None, token_counter: str = "whitespace") -> EvalSummary:
    """The full summary, benchmarks in the given order; windows apply to dated (LCB) benchmarks."""
    out = []
    for name, tasks in tasks_by_benchmark.items():
        dated = any(t.contest_date is not None for t in tasks)
        out.append(summarize_benchmark(name, tasks, results, ks, windows if dated else ()))
    return EvalSummary(settings, token_counter, out)
