"""Report: per-mode means and spread over seeds of the final readouts, paired comparisons, plots;
readouts from judged samples."""

from __future__ import annotations

import pytest

from pgrpo.toy.report import comparisons, summarize_runs, write_plots

CURVE = {"step": [1, 2], "pass_rate": [0.1, 0.2], "trap_pass_rate": [0.0, 0.1], "rt_failing": [0.3, 0.4],
         "invalid_shortcut_rate": [0.1, 0.2], "reasoning_quality": [0.5, 0.6]}


def _run(mode, seed, pass_at_1, thinking, rt_failing=0.3):
    readouts = {"pass_at_1": pass_at_1, "trap_pass_at_1": pass_at_1 / 2, "other_pass_at_1": pass_at_1,
                "rt_failing": rt_failing, "rt_passing": 0.6, "invalid_shortcut_rate": 0.1,
                "valid_shortcut_rate": 0.2, "reasoning_quality": 0.5, "pass_at_1_se": 0.02}
    return {"mode": mode, "seed": seed, "steps": 2, "wall_seconds": 10.0,
            "eval": {"pass_at_1": pass_at_1, "reasoning_quality": 0.5, "format_rate": 1.0},
            "readouts": readouts, "curves": {**CURVE, "thinking_reward": thinking}}


def test_summary_mean_spread_gain_and_comparisons(tmp_path):
    runs = [_run("posterior", 0, 0.3, [0.4, 0.6]), _run("posterior", 1, 0.5, [0.5, 0.7], rt_failing=None),
            _run("outcome", 0, 0.2, [None, None]), _run("outcome", 1, 0.3, [None, None])]
    summary = summarize_runs(runs, {"pass_at_1": 0.25})
    assert summary["posterior"]["pass_at_1"] == pytest.approx(0.4)
    assert summary["posterior"]["pass_at_1_spread"] == pytest.approx(0.1414, abs=1e-3)
    assert summary["posterior"]["pass_at_1_gain_over_sft"] == pytest.approx(0.15)
    assert summary["posterior"]["trap_pass_at_1"] == pytest.approx(0.2)
    assert summary["posterior"]["rt_failing"] == pytest.approx(0.3)  # a seed with no failing sample is skipped
    assert summary["posterior"]["mean_thinking_reward"] == pytest.approx(0.55)
    assert summary["outcome"]["mean_thinking_reward"] is None
    comps = comparisons(runs)
    # posterior - outcome per seed: 0.1, 0.2 -> mean 0.15; no additive runs -> no posterior-additive
    assert set(comps) == {"posterior-outcome"}
    assert comps["posterior-outcome"]["diffs"] == pytest.approx([0.1, 0.2])
    assert comps["posterior-outcome"]["mean"] == pytest.approx(0.15) and comps["posterior-outcome"]["seeds"] == [0, 1]
    names = write_plots(tmp_path, runs)
    assert len(names) == 6 and all((tmp_path / n).stat().st_size > 1000 for n in names)


def test_readouts_split_by_task_class_and_outcome():
    from pgrpo.toy.readouts import SampleRecord, summarize, task_clustered_se

    records = [SampleRecord("a", "trap", False, 0.5, 0, 1, 0.9), SampleRecord("a", "trap", True, 1.0, 0, 0, 0.7),
               SampleRecord("b", "safe", True, 1.0, 1, 0, 0.8), SampleRecord("b", "safe", True, 1.0, 0, 0, 0.6),
               SampleRecord("c", "plain", False, 0.2, 0, 0, 0.1), SampleRecord("c", "plain", False, 0.4, 0, 0, None)]
    r = summarize(records)
    assert r.pass_at_1 == pytest.approx(3 / 6)
    assert r.trap_pass_at_1 == pytest.approx(1 / 2) and r.other_pass_at_1 == pytest.approx(2 / 4)
    assert r.rt_failing == pytest.approx((0.9 + 0.1) / 2)  # the unscored failing sample is left out
    assert r.rt_passing == pytest.approx((0.7 + 0.8 + 0.6) / 3, abs=1e-4)  # means are rounded to 4 digits
    assert r.invalid_shortcut_rate == pytest.approx(1 / 6, abs=1e-4) and r.valid_shortcut_rate == pytest.approx(1 / 6, abs=1e-4)
    # per-task pass rates 0.5, 1.0, 0.0: sd 0.5, SE 0.5 / sqrt(3)
    assert task_clustered_se(records) == pytest.approx(0.5 / 3 ** 0.5, abs=1e-4)
    empty = summarize([])
    assert empty.pass_at_1 is None and empty.samples == 0


def test_records_of_reads_shortcuts_with_the_oracle():
    from pgrpo.toy.readouts import records_of
    from pgrpo.toy.world import Step, ToyTask, reasoning_lines, task_class, to_problem

    trap = ToyTask("t", (Step("neg"), Step("mod", 3)))  # negate, then x mod 3: the skip changes the answer
    assert task_class(trap) == "trap"
    skipped = "\n".join(reasoning_lines(trap.steps, {0}))
    canonical = "\n".join(reasoning_lines(trap.steps))
    recs = records_of([to_problem(trap)] * 2, [skipped, canonical], [False, True], [0.9, 0.4])
    assert [(r.task_class, r.invalid_skips, r.valid_skips, r.passed, r.rt) for r in recs] == [
        ("trap", 1, 0, False, 0.9), ("trap", 0, 0, True, 0.4)]
    assert recs[1].quality == pytest.approx(1.0) and recs[0].quality < 1.0


def test_comparisons_pair_only_seeds_with_a_value_on_both_sides():
    from pgrpo.toy.report import comparisons, paired_values

    def run(mode, seed, value):
        return {"mode": mode, "seed": seed, "readouts": {"rt_failing": value}}

    # seed 1: outcome had no failing sample; seed 3: posterior had none -> both dropped from both sides
    runs = [run("outcome", 0, 0.3), run("outcome", 1, None), run("outcome", 2, 0.2), run("outcome", 3, 0.4),
            run("outcome", 4, 0.1), run("posterior", 0, 0.5), run("posterior", 1, 0.6), run("posterior", 2, 0.3),
            run("posterior", 3, None), run("posterior", 4, 0.4), run("additive", 0, None), run("additive", 2, 0.1)]
    assert paired_values(runs, "posterior", "outcome", "rt_failing") == ([0, 2, 4], [0.5, 0.3, 0.4], [0.3, 0.2, 0.1])
    comps = comparisons(runs, "rt_failing")
    po = comps["posterior-outcome"]
    assert po["seeds"] == [0, 2, 4] and po["dropped_seeds"] == [1, 3] and po["k"] == 3 and not po["n_a"]
    assert po["diffs"] == pytest.approx([0.2, 0.1, 0.3]) and po["mean"] == pytest.approx(0.2)
    pa = comps["posterior-additive"]  # one seed left (2): n/a
    assert pa["n_a"] and pa["k"] == 1 and pa["seeds"] == [2] and pa["dropped_seeds"] == [0]
    assert pa["diffs"] == pytest.approx([0.2]) and pa["mean"] is None and pa["sign_flip_p"] is None
