"""Report: mean and spread over seeds per mode, plots and markdown from stage results."""

from __future__ import annotations

import pytest

from pgrpo.toy.report import summarize_runs, write_plots


def _run(mode, seed, pass_at_1, thinking):
    return {"mode": mode, "seed": seed, "steps": 2, "wall_seconds": 10.0,
            "eval": {"pass_at_1": pass_at_1, "reasoning_quality": 0.5, "format_rate": 1.0},
            "curves": {"step": [1, 2], "pass_rate": [0.1, 0.2], "reasoning_quality": [0.5, 0.6],
                       "thinking_reward": thinking}}


def test_summary_mean_spread_and_gain(tmp_path):
    runs = [_run("posterior", 0, 0.3, [0.4, 0.6]), _run("posterior", 1, 0.5, [0.5, 0.7]),
            _run("outcome", 0, 0.2, [None, None])]
    summary = summarize_runs(runs, {"pass_at_1": 0.25})
    assert summary["posterior"]["pass_at_1"] == pytest.approx(0.4)
    assert summary["posterior"]["pass_at_1_spread"] == pytest.approx(0.1414, abs=1e-3)
    assert summary["posterior"]["pass_at_1_gain_over_sft"] == pytest.approx(0.15)
    assert summary["posterior"]["mean_thinking_reward"] == pytest.approx(0.55)
    assert summary["outcome"]["pass_at_1_spread"] is None and summary["outcome"]["mean_thinking_reward"] is None
    names = write_plots(tmp_path, runs)
    assert len(names) == 3 and all((tmp_path / n).stat().st_size > 1000 for n in names)
