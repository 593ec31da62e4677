"""Report: per-arm means and spread over seeds of the final readouts and training curves, paired
comparisons (t-interval, crossed task x seed bootstrap, MDE at the decision alpha) on fixed numbers,
the pre-registered validity checks, plots; readouts (false passes, hidden traps) from judged samples."""

from __future__ import annotations

import math

import pytest

from pgrpo_toy.report import Comparison, compare, comparisons, summarize_runs, validity_checks
from pgrpo_toy.report_render import PLOTS, write_plots

CURVE = {"step": [1, 2], "pass_rate": [0.1, 0.2], "trap_pass_rate": [0.0, 0.1], "rt_failing": [0.3, 0.4],
         "invalid_shortcut_rate": [0.1, 0.2], "reasoning_quality": [0.5, 0.6], "rt_true_pass": [0.6, 0.8],
         "rt_false_pass": [0.5, None], "train_pass_rate": [0.3, 0.5]}


def _run(arm, seed, pass_at_1, false_pass, rt_failing=0.3, mode="posterior"):
    readouts = {"pass_at_1": pass_at_1, "hidden_pass_at_1": pass_at_1 / 2, "weak_pass_at_1": pass_at_1 + 0.1,
                "false_pass_rate": 0.1, "trap_pass_at_1": pass_at_1 / 2, "other_pass_at_1": pass_at_1,
                "rt_failing": rt_failing, "rt_passing": 0.6, "rt_true_pass": 0.6, "rt_false_pass": 0.7,
                "invalid_shortcut_rate": 0.1, "valid_shortcut_rate": 0.2, "reasoning_quality": 0.5,
                "pass_at_1_se": 0.02}
    by_rm = {"honest": {"rt_true_pass": 0.6, "rt_false_pass": 0.2, "rt_passing": 0.6, "rt_failing": 0.1},
             "blind": {"rt_true_pass": 0.5, "rt_false_pass": 0.8, "rt_passing": 0.5, "rt_failing": 0.4}}
    return {"arm": arm, "mode": mode, "rm_editor": "honest", "seed": seed, "steps": 2, "wall_seconds": 10.0,
            "eval": {"pass_at_1": pass_at_1, "reasoning_quality": 0.5, "format_rate": 1.0},
            "readouts": readouts, "readouts_by_rm": by_rm, "curves_rm_editor": "honest",
            "curves": {**CURVE, "false_pass_rate": false_pass}}


def test_summary_mean_spread_gain_and_training_means(tmp_path):
    runs = [_run("posterior_honest", 0, 0.3, [0.1, 0.3]), _run("posterior_honest", 1, 0.5, [0.0, 0.2], rt_failing=None),
            _run("outcome", 0, 0.2, [0.2, 0.4], mode="outcome"), _run("outcome", 1, 0.3, [None, None], mode="outcome")]
    summary = summarize_runs(runs, {"pass_at_1": 0.25})
    assert list(summary) == ["posterior_honest", "outcome"]
    ph = summary["posterior_honest"]
    assert ph["pass_at_1"] == pytest.approx(0.4) and ph["hidden_pass_at_1"] == pytest.approx(0.2)
    assert ph["weak_pass_at_1"] == pytest.approx(0.5)
    assert ph["pass_at_1_spread"] == pytest.approx(0.1414, abs=1e-3)
    assert ph["pass_at_1_gain_over_sft"] == pytest.approx(0.15)
    assert ph["rt_failing"] == pytest.approx(0.3)  # a seed with no failing sample is skipped
    # training false passes: per run the mean over steps (0.2, 0.1), then over seeds
    assert ph["train"]["false_pass_rate"] == pytest.approx(0.15)
    assert ph["train"]["rt_false_pass"] == pytest.approx(0.5)  # a step without false passes is skipped
    assert summary["outcome"]["train"]["false_pass_rate"] == pytest.approx(0.3)  # seed 1 had none: skipped
    assert ph["by_rm"]["blind"]["rt_false_pass"] == pytest.approx(0.8)
    assert ph["mode"] == "posterior" and summary["outcome"]["mode"] == "outcome" and ph["seeds"] == [0, 1]
    names = write_plots(tmp_path, runs)
    assert names == [name for _, _, name in PLOTS] and all((tmp_path / n).stat().st_size > 1000 for n in names)


# --- paired comparisons on fixed numbers ---------------------------------------------------------

TASKS = ("t0", "t1", "t2", "t3")
HIDDEN = frozenset({"t0", "t1"})
# per-task strong pass rates per seed; arm a gains 0.5 on hidden tasks and 0.1 + 0.05 * seed elsewhere
B_TASK = {0: [0.0, 0.5, 0.5, 1.0], 1: [0.5, 0.0, 1.0, 0.5], 2: [0.0, 0.0, 0.5, 0.5], 3: [0.5, 0.5, 0.5, 0.5]}


def _a_task(seed: int) -> list[float]:
    return [b + (0.5 if t in HIDDEN else 0.1 + 0.05 * seed) for t, b in zip(TASKS, B_TASK[seed])]


def _task_run(arm: str, seed: int, values: list[float], hidden_none: bool = False) -> dict:
    per_task = dict(zip(TASKS, values))
    hidden = [v for t, v in per_task.items() if t in HIDDEN]
    return {"arm": arm, "seed": seed, "per_task_pass": per_task,
            "readouts": {"pass_at_1": sum(values) / len(values),
                         "hidden_pass_at_1": None if hidden_none else sum(hidden) / len(hidden)}}


@pytest.fixture
def task_runs() -> list[dict]:
    # seed 3: outcome has no hidden_pass_at_1 (e.g. no hidden task evaluated): dropped from that comparison
    return [run for s in range(4) for run in (_task_run("posterior_honest", s, _a_task(s)),
                                              _task_run("outcome", s, B_TASK[s], hidden_none=s == 3))]


def test_compare_pass_rate_gives_the_crossed_interval_and_variance(task_runs):
    from pgrpo_toy.crossed import crossed_bootstrap

    c = compare(task_runs, Comparison("posterior_honest", "outcome", "pass_at_1"), HIDDEN)
    assert c is not None
    # per seed: (0.5 + 0.5 + 2 * (0.1 + 0.05 s)) / 4 = 0.3 + 0.025 s
    diffs = [0.3 + 0.025 * s for s in range(4)]
    assert c["seeds"] == [0, 1, 2, 3] and c["dropped_seeds"] == [] and not c["n_a"]
    assert c["diffs"] == pytest.approx(diffs) and c["mean"] == pytest.approx(0.3375)
    sd = 0.025 * math.sqrt(5 / 3)  # sd of 0, 1, 2, 3 is sqrt(5/3)
    assert c["sd"] == pytest.approx(sd, abs=1e-6)
    assert c["mde_alpha"] == 0.025
    assert c["mde"] == pytest.approx((4.176535 + 0.978472) * sd / 2, abs=1e-5)  # t_{0.9875,3}, t_{0.80,3}
    crossed = c["crossed"]
    assert crossed["k"] == 4 and crossed["t"] == 4 and crossed["estimate"] == pytest.approx(0.3375)
    grid = [[x - y for x, y in zip(_a_task(s), B_TASK[s])] for s in range(4)]
    assert crossed["interval"] == pytest.approx(crossed_bootstrap(grid).as_dict()["interval"])
    assert crossed["interval"][0] <= 0.3375 <= crossed["interval"][1]
    variance = c["variance"]
    assert {"seed_share", "task_share", "residual_share", "seed_var", "task_var", "residual_var", "se"} <= set(variance)
    assert variance["seed_share"] + variance["task_share"] + variance["residual_share"] == pytest.approx(1.0)
    assert variance["task_share"] > 0.5  # hidden vs other tasks: the task term dominates here


def test_compare_hidden_metric_reads_only_hidden_tasks_and_drops_unpaired_seeds(task_runs):
    c = compare(task_runs, Comparison("posterior_honest", "outcome", "hidden_pass_at_1"), HIDDEN)
    assert c is not None
    assert c["seeds"] == [0, 1, 2] and c["dropped_seeds"] == [3] and c["k"] == 3
    assert c["diffs"] == pytest.approx([0.5, 0.5, 0.5]) and c["mean"] == pytest.approx(0.5)
    crossed = c["crossed"]
    # only t0 and t1, where every difference is 0.5: the interval collapses on it
    assert crossed["t"] == 2 and crossed["k"] == 3
    assert crossed["estimate"] == pytest.approx(0.5) and crossed["interval"] == pytest.approx([0.5, 0.5])
    # with other hidden ids the same comparison reads other tasks
    other = compare(task_runs, Comparison("posterior_honest", "outcome", "hidden_pass_at_1"), frozenset({"t2", "t3"}))
    assert other is not None
    assert other["crossed"]["estimate"] == pytest.approx(0.1 + 0.05)  # seeds 0-2: 0.1 + 0.05 s, mean at s = 1


def test_compare_below_two_seeds_and_without_a_run():
    runs = [_task_run("posterior_honest", 0, _a_task(0)), _task_run("outcome", 0, B_TASK[0])]
    c = compare(runs, Comparison("posterior_honest", "outcome", "pass_at_1"), HIDDEN)
    assert c is not None
    assert c["n_a"] and c["k"] == 1 and c["diffs"] == pytest.approx([0.3])
    for key in ("mean", "ci95", "sign_flip_p", "mde", "crossed"):
        assert c[key] is None, key
    assert c["mde_alpha"] == 0.025  # the decision alpha is stated even where no MDE exists
    assert compare(runs, Comparison("posterior_blind", "outcome", "pass_at_1"), HIDDEN) is None


def test_comparisons_of_the_weak_world_name_arm_pairs_and_metric(task_runs):
    comps = comparisons(task_runs, "weak", HIDDEN)
    # only posterior_honest and outcome ran: the comparisons with posterior_blind are left out
    assert set(comps) == {"posterior_honest-outcome:hidden_pass_at_1", "posterior_honest-outcome:pass_at_1"}
    assert next(iter(comps)) == "posterior_honest-outcome:hidden_pass_at_1"  # the primary one first


def test_comparisons_pair_only_seeds_with_a_value_on_both_sides():
    from pgrpo_toy.report import paired_values

    def run(arm, seed, value):
        return {"arm": arm, "seed": seed, "readouts": {"rt_failing": value}}

    # seed 1: outcome had no failing sample; seed 3: posterior had none -> both dropped from both sides
    runs = [run("outcome", 0, 0.3), run("outcome", 1, None), run("outcome", 2, 0.2), run("outcome", 3, 0.4),
            run("outcome", 4, 0.1), run("posterior", 0, 0.5), run("posterior", 1, 0.6), run("posterior", 2, 0.3),
            run("posterior", 3, None), run("posterior", 4, 0.4), run("additive", 0, None), run("additive", 2, 0.1)]
    assert paired_values(runs, "posterior", "outcome", "rt_failing") == ([0, 2, 4], [0.5, 0.3, 0.4], [0.3, 0.2, 0.1])
    po = compare(runs, Comparison("posterior", "outcome", "rt_failing"))
    assert po is not None
    assert po["seeds"] == [0, 2, 4] and po["dropped_seeds"] == [1, 3] and po["k"] == 3 and not po["n_a"]
    assert po["diffs"] == pytest.approx([0.2, 0.1, 0.3]) and po["mean"] == pytest.approx(0.2)
    assert po["crossed"] is None  # not a pass rate: no per-task values to resample
    pa = compare(runs, Comparison("posterior", "additive", "rt_failing"))  # one seed left (2): n/a
    assert pa is not None
    assert pa["n_a"] and pa["k"] == 1 and pa["seeds"] == [2] and pa["dropped_seeds"] == [0]
    assert pa["diffs"] == pytest.approx([0.2]) and pa["mean"] is None and pa["sign_flip_p"] is None


# --- validity checks -------------------------------------------------------------------------------

def test_validity_checks_thresholds():
    def check(false_pass, probe_accuracy):
        arms = {"outcome": {"train": {"false_pass_rate": false_pass}}} if false_pass is not None else {}
        probe = {"honest": {"invalid_accuracy": probe_accuracy}} if probe_accuracy is not None else {}
        out = validity_checks(arms, probe)
        return out["outcome_train_false_pass_rate"], out["honest_probe_accuracy"]

    fp, pr = check(0.02, 0.9)  # at the pre-registered thresholds: holds
    assert (fp["threshold"], pr["threshold"]) == (0.02, 0.9)
    assert fp["holds"] is True and pr["holds"] is True and fp["value"] == 0.02 and pr["value"] == 0.9
    fp, pr = check(0.0199, 0.8999)
    assert fp["holds"] is False and pr["holds"] is False
    fp, pr = check(None, None)  # the arm or the RM did not run: no verdict
    assert fp["holds"] is None and fp["value"] is None and pr["holds"] is None
    # the blind RM's probe is not the honest one's
    assert validity_checks({}, {"blind": {"invalid_accuracy": 1.0}})["honest_probe_accuracy"]["holds"] is None


# --- readouts ----------------------------------------------------------------------------------------

def test_readouts_split_by_task_class_and_outcome():
    from pgrpo_toy.readouts import SampleRecord, summarize, task_clustered_se

    records = [SampleRecord("a", "trap", False, 0.5, 0, 1, 0.9), SampleRecord("a", "trap", True, 1.0, 0, 0, 0.7),
               SampleRecord("b", "safe", True, 1.0, 1, 0, 0.8), SampleRecord("b", "safe", True, 1.0, 0, 0, 0.6),
               SampleRecord("c", "plain", False, 0.2, 0, 0, 0.1), SampleRecord("c", "plain", False, 0.4, 0, 0, None)]
    r = summarize(records)
    assert r.pass_at_1 == pytest.approx(3 / 6)
    assert r.trap_pass_at_1 == pytest.approx(1 / 2) and r.other_pass_at_1 == pytest.approx(2 / 4)
    assert r.rt_failing == pytest.approx((0.9 + 0.1) / 2)  # the unscored failing sample is left out
    assert r.rt_passing == pytest.approx((0.7 + 0.8 + 0.6) / 3, abs=1e-4)  # means are rounded to 4 digits
    assert r.invalid_shortcut_rate == pytest.approx(1 / 6, abs=1e-4) and r.valid_shortcut_rate == pytest.approx(1 / 6, abs=1e-4)
    # no weak verdicts taken: no weak pass rate, no false passes, no hidden tasks
    assert r.weak_pass_at_1 is None and r.false_pass_rate is None and r.hidden_pass_at_1 is None
    # per-task pass rates 0.5, 1.0, 0.0: sd 0.5, SE 0.5 / sqrt(3)
    assert task_clustered_se(records) == pytest.approx(0.5 / 3 ** 0.5, abs=1e-4)
    empty = summarize([])
    assert empty.pass_at_1 is None and empty.samples == 0


def test_readouts_false_passes_and_hidden_tasks():
    from pgrpo_toy.readouts import SampleRecord, per_task_pass, summarize

    def rec(task, passed, weak, rt, hidden=True):
        return SampleRecord(task, "trap", passed, 1.0, 0, 0, rt, hidden, weak)

    records = [rec("h", False, True, 0.9), rec("h", True, True, 0.5), rec("h", False, False, 0.1),
               rec("o", True, True, 0.7, hidden=False), rec("o", False, True, 0.3, hidden=False)]
    r = summarize(records)
    assert r.weak_pass_at_1 == pytest.approx(4 / 5) and r.pass_at_1 == pytest.approx(2 / 5)
    assert r.false_pass_rate == pytest.approx(2 / 5)  # weak pass and strong fail: the first and the last
    assert r.rt_false_pass == pytest.approx((0.9 + 0.3) / 2) and r.rt_true_pass == pytest.approx((0.5 + 0.7) / 2)
    assert r.hidden_pass_at_1 == pytest.approx(1 / 3, abs=1e-4)
    assert per_task_pass(records) == {"h": pytest.approx(1 / 3), "o": 0.5}


def test_records_of_reads_shortcuts_hidden_traps_and_weak_verdicts_with_the_oracle():
    from pgrpo_toy.readouts import records_of
    from pgrpo_toy.world import Step, ToyTask, reasoning_lines, task_class, to_problem

    trap = ToyTask("t", (Step("neg"), Step("mod", 3)))  # negate, then x mod 3: the skip changes the answer
    hidden = ToyTask("h", (Step("abs"), Step("sub", 4)))  # the weak tests miss skipping abs
    assert task_class(trap) == "trap"
    skipped = "\n".join(reasoning_lines(trap.steps, {0}))
    canonical = "\n".join(reasoning_lines(trap.steps))
    recs = records_of([to_problem(trap)] * 2 + [to_problem(hidden)], [skipped, canonical, canonical],
                      [False, True, True], [0.9, 0.4, 0.5], [False, True, None])
    assert [(r.task_class, r.invalid_skips, r.valid_skips, r.passed, r.rt, r.hidden, r.weak_passed) for r in recs] == [
        ("trap", 1, 0, False, 0.9, False, False), ("trap", 0, 0, True, 0.4, False, True),
        ("trap", 0, 0, True, 0.5, True, None)]
    assert recs[1].quality == pytest.approx(1.0) and recs[0].quality < 1.0
