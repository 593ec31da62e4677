"""Aggregation: pass@k against brute force, LCB difficulty / date-window split, report writers."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random

import pytest

from pgrpo.data.problem import Problem, StdioCase, TestKind, Tests
from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import EvalTask
from pgrpo.evaluation.records import ResultRecord, RunSettings
from pgrpo.evaluation.summary import (
    DateWindow,
    render_markdown,
    summarize,
    summarize_benchmark,
    summary_to_dict,
    write_summary,
)


def _task(task_id: str, difficulty: str | None = None, date: str | None = None, bench: str = "b") -> EvalTask:
    problem = Problem(task_id, "stmt", Tests(TestKind.STDIO, stdio_cases=(StdioCase("1", "1"),)),
                      difficulty=difficulty, contest_date=dt.date.fromisoformat(date) if date else None)
    return EvalTask(bench, problem)


def _results(flags: dict[str, list[bool]], bench: str = "b") -> list[ResultRecord]:
    return [ResultRecord(bench, t, i, p, "passed" if p else "failed", float(p), True, 10 + i, 3)
            for t, fs in flags.items() for i, p in enumerate(fs)]


def brute_force_pass_at_k(flags: list[bool], k: int) -> float:
    """Probability that a uniformly random k-subset of the samples holds a pass (enumerated)."""
    subsets = list(itertools.combinations(range(len(flags)), k))
    return sum(any(flags[i] for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_brute_force_enumeration():
    rng = random.Random(7)
    n = 8
    flags = {f"t{j}": [rng.random() < p for _ in range(n)] for j, p in enumerate([0.0, 0.1, 0.3, 0.5, 0.9, 1.0])}
    tasks = [_task(t) for t in flags]
    summary = summarize_benchmark("b", tasks, _results(flags), ks=(1, 2, 5, 8, 10))
    for k in (1, 2, 5, 8):
        expected = sum(brute_force_pass_at_k(f, k) for f in flags.values()) / len(flags)
        assert summary.pass_at_k[k] == pytest.approx(expected, abs=1e-12)
    assert 10 in summary.skipped_ks and 10 not in summary.pass_at_k  # k > n is not reported
    all_flags = [x for f in flags.values() for x in f]
    assert summary.avg_at_n == pytest.approx(sum(all_flags) / len(all_flags))
    assert summary.pass_at_k[1] == pytest.approx(summary.avg_at_n)  # equal n per task
    assert summary.num_samples == 6 * n and summary.min_samples_per_task == n
    assert summary.mean_reasoning_tokens == pytest.approx(10 + (n - 1) / 2)
    assert summary.mean_answer_tokens == 3


def test_missing_tasks_and_foreign_results_are_not_counted():
    tasks = [_task("a"), _task("b"), _task("c")]
    results = _results({"a": [True], "b": [False], "zzz": [True]}) + _results({"a": [False]}, bench="other")
    s = summarize_benchmark("b", tasks, results, ks=(1,))
    assert s.missing_tasks == 1 and s.num_samples == 2
    assert s.pass_at_k[1] == pytest.approx(0.5)


def test_lcb_difficulty_and_date_windows():
    tasks = [_task("e1", "easy", "2024-06-10"), _task("e2", "easy", "2024-09-01"),
             _task("m1", "medium", "2024-09-15"), _task("h1", "hard", "2025-02-02")]
    flags = {"e1": [True, True], "e2": [True, False], "m1": [False, False], "h1": [False, True]}
    windows = (DateWindow.parse("2024-08-01:2024-12-31"), DateWindow.parse("2025-01-01:"))
    s = summarize_benchmark("b", tasks, _results(flags), ks=(1, 2), windows=windows)
    by_diff = {g.name: g for g in s.by_difficulty}
    assert [g.name for g in s.by_difficulty] == ["easy", "medium", "hard"]
    assert by_diff["easy"].num_tasks == 2 and by_diff["easy"].pass_at_k[1] == pytest.approx(0.75)
    assert by_diff["easy"].pass_at_k[2] == pytest.approx(1.0)
    assert by_diff["medium"].pass_at_k[1] == 0.0 and by_diff["hard"].pass_at_k[1] == pytest.approx(0.5)
    w1, w2 = s.by_window
    assert (w1.name, w1.num_tasks, w1.pass_at_k[1]) == ("2024-08-01:2024-12-31", 2, pytest.approx(0.25))
    assert (w2.name, w2.num_tasks, w2.pass_at_k[1]) == ("2025-01-01:", 1, pytest.approx(0.5))


def test_date_window_parsing():
    w = DateWindow.parse(":2024-12-31")
    assert w.start is None and w.contains(dt.date(2020, 1, 1)) and not w.contains(dt.date(2025, 1, 1))
    assert not w.contains(None)  # undated problems fall in no window
    for bad in ("2024-01-01", "2024-13-01:", "2025-01-01:2024-01-01"):
        with pytest.raises(PgrpoError, match="--lcb-window"):
            DateWindow.parse(bad)


def test_windows_only_for_dated_benchmarks_and_reports(tmp_path):
    tasks = {"humaneval": [_task("x", bench="humaneval")],
             "lcb": [_task("l1", "easy", "2024-09-01", bench="lcb"), _task("l2", "hard", "2024-10-01", bench="lcb")]}
    results = _results({"x": [True]}, bench="humaneval") + _results({"l1": [True], "l2": [False]}, bench="lcb")
    settings = RunSettings("m", "hf", "pgrpo", 0.0, 1.0, 32, 1, 0)
    summary = summarize(tasks, results, ks=(1, 5), windows=(DateWindow.parse("2024-01-01:"),), settings=settings,
                        token_counter="whitespace")
    he, lcb = summary.benchmarks
    assert he.by_window == [] and he.by_difficulty == []
    assert len(lcb.by_window) == 1 and lcb.by_window[0].num_tasks == 2
    md = render_markdown(summary)
    assert "| humaneval | 1 | 1 | 100.0 |" in md
    assert "## lcb by difficulty" in md and "| easy | 1 | 100.0 |" in md and "| hard | 1 | 0.0 |" in md
    assert "whitespace" in md and "pass@5" not in md
    write_summary(summary, tmp_path / "summary.json", tmp_path / "summary.md")
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data == json.loads(json.dumps(summary_to_dict(summary)))
    assert data["benchmarks"][1]["pass_at_k"] == {"pass@1": 0.5}
    assert data["benchmarks"][1]["by_difficulty"][0]["name"] == "easy"
    assert data["settings"]["model"] == "m"
    assert (tmp_path / "summary.md").read_text() == md
