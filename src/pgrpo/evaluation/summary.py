"""The evaluation summary: `summarize` (pass@k per benchmark, difficulty and contest-date window
(`DateWindow`), avg@n, format rate, statuses, mean reasoning / answer tokens) and its files,
summary.json (fractions) and summary.md (percentages, one decimal as in the paper).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pgrpo.data.io import write_text_atomic
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
    by_task: dict[str, list[ResultRecord]] = {t.task_id: [] for t in tasks}
    for r in results:
        if r.benchmark == benchmark and r.task_id in by_task:
            by_task[r.task_id].append(r)
    flags = {task_id: [r.passed for r in sorted(rs, key=lambda r: r.sample_index)]
             for task_id, rs in by_task.items()}
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


def _ks(scores: dict[int, float]) -> dict[str, float]:
    return {f"pass@{k}": v for k, v in sorted(scores.items())}


def _group_dict(g: GroupScore) -> dict[str, Any]:
    return {"name": g.name, "num_tasks": g.num_tasks, "num_samples": g.num_samples,
            **_ks(g.pass_at_k), "avg@n": g.avg_at_n}


def _bench_dict(b: BenchmarkSummary) -> dict[str, Any]:
    d = asdict(b)
    del d["pass_at_k"]  # re-added last, as "pass@k" keys
    return d | {"skipped_ks": list(b.skipped_ks), "by_difficulty": [_group_dict(g) for g in b.by_difficulty],
                "by_window": [_group_dict(g) for g in b.by_window], "pass_at_k": _ks(b.pass_at_k)}


def summary_to_dict(summary: EvalSummary) -> dict[str, Any]:
    return {
        "settings": asdict(summary.settings) if summary.settings is not None else None,
        "token_counter": summary.token_counter,
        "benchmarks": [_bench_dict(b) for b in summary.benchmarks],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def render_markdown(summary: EvalSummary) -> str:
    """Markdown: a main table (one row per benchmark), then LCB breakdowns when present."""
    ks = sorted({k for b in summary.benchmarks for k in b.pass_at_k})
    lines = ["# pgrpo evaluation", ""]
    s = summary.settings
    if s is not None:
        lines += [f"model `{s.model}` | backend {s.backend} | prompt {s.prompt_style} | n={s.n} | "
                  f"temperature {s.temperature} | top_p {s.top_p} | max_tokens {s.max_tokens}", ""]
    head = ["benchmark", "tasks", "samples", *[f"pass@{k}" for k in ks], "avg@n", "format %",
            "reasoning tok", "answer tok"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b in summary.benchmarks:
        row = [b.benchmark, str(b.num_tasks - b.missing_tasks) + (f" (missing {b.missing_tasks})"
                                                                  if b.missing_tasks else ""),
               str(b.num_samples), *[_pct(b.pass_at_k.get(k)) for k in ks], _pct(b.avg_at_n),
               _pct(b.format_ok_rate), f"{b.mean_reasoning_tokens:.1f}", f"{b.mean_answer_tokens:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Scores in %. Token lengths counted with: {summary.token_counter}."]
    for b in summary.benchmarks:
        for title, groups in (("difficulty", b.by_difficulty), ("contest date window", b.by_window)):
            if not groups:
                continue
            gks = sorted({k for g in groups for k in g.pass_at_k})
            lines += ["", f"## {b.benchmark} by {title}", "",
                      "| " + " | ".join([title, "tasks", *[f"pass@{k}" for k in gks], "avg@n"]) + " |",
                      "|" + "---|" * (3 + len(gks))]
            for g in groups:
                lines.append("| " + " | ".join([g.name, str(g.num_tasks), *[_pct(g.pass_at_k.get(k)) for k in gks],
                                                _pct(g.avg_at_n)]) + " |")
    statuses = [(b.benchmark, b.statuses) for b in summary.benchmarks if b.statuses]
    if statuses:
        lines += ["", "## Verdicts", ""]
        lines += [f"- {name}: " + ", ".join(f"{k} {v}" for k, v in st.items()) for name, st in statuses]
    return "\n".join(lines) + "\n"


def write_summary(summary: EvalSummary, json_path: str | Path, md_path: str | Path) -> None:
    write_text_atomic(json_path, json.dumps(summary_to_dict(summary), indent=2) + "\n")
    write_text_atomic(md_path, render_markdown(summary))
