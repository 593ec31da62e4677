"""`pgrpo demo --study` without training: the staged seeds and stopping rule, and the report
assembled from fixed numbers (the RL and shared stages are replaced by canned results)."""

from __future__ import annotations

import json
import math

import pytest

from pgrpo_toy.demo import SharedStages
from pgrpo_toy.demo_config import DemoConfig
from pgrpo_toy.stats import StoppingRule

ARMS = ("outcome", "posterior_honest", "posterior_blind")
# Strong-test pass@1 on the hidden-trap tasks per (arm, seed) (the primary endpoint): posterior_honest
# beats outcome on every seed by 0.02 + 0.01 * seed; posterior_blind differs from posterior_honest by
# alternating signs (posterior_honest - posterior_blind: mean -0.01 / 8)
HIDDEN_PASS = {"outcome": [0.20, 0.22, 0.18, 0.25, 0.21, 0.19, 0.24, 0.20]}
HIDDEN_PASS["posterior_honest"] = [o + 0.02 + 0.01 * s for s, o in enumerate(HIDDEN_PASS["outcome"])]
HIDDEN_PASS["posterior_blind"] = [p + d for p, d in zip(HIDDEN_PASS["posterior_honest"],
                                                        [0.05, -0.04, 0.03, -0.05, 0.02, -0.03, 0.04, -0.01])]
OTHER_PASS = 0.5  # every arm's pass rate on the other test tasks


@pytest.fixture(scope="module")
def test_tasks() -> tuple[list[str], frozenset[str]]:
    """The default config's evaluation task ids and the hidden-trap ones among them."""
    from pgrpo_toy.report import hidden_task_ids
    from pgrpo_toy.stages_rm import eval_problems, splits_of

    config = DemoConfig("x")
    return [p.task_id for p in eval_problems(config, splits_of(config))], hidden_task_ids(config)


def _readouts(arm: str, seed: int) -> dict:
    hidden = HIDDEN_PASS[arm][seed]
    return {"samples": 1024, "pass_at_1": 0.25 * hidden + 0.75 * OTHER_PASS, "hidden_pass_at_1": hidden,
            "weak_pass_at_1": 0.7, "false_pass_rate": {"outcome": 0.1, "posterior_honest": 0.05,
                                                        "posterior_blind": 0.15}[arm],
            "trap_pass_at_1": 0.2, "other_pass_at_1": 0.5, "rt_passing": 0.6, "rt_failing": 0.3,
            "rt_true_pass": 0.6, "rt_false_pass": {"outcome": 0.3, "posterior_honest": 0.2, "posterior_blind": 0.7}[arm],
            "valid_shortcut_rate": 0.1, "invalid_shortcut_rate": 0.05, "reasoning_quality": 0.8,
            "pass_at_1_se": 0.03}


def _run(arm: str, seed: int, tasks: tuple[list[str], frozenset[str]]) -> dict:
    ids, hidden = tasks
    mode = "outcome" if arm == "outcome" else "posterior"
    per_task = {t: HIDDEN_PASS[arm][seed] if t in hidden else OTHER_PASS for t in ids}
    return {"arm": arm, "mode": mode, "rm_editor": None if arm == "outcome" else arm.split("_")[1], "seed": seed,
            "steps": 2, "wall_seconds": 10.0, "eval": {"format_rate": 1.0}, "readouts": _readouts(arm, seed),
            "readouts_by_rm": {}, "per_task_pass": per_task, "curves_rm_editor": "honest",
            "curves": {"step": [1, 2], "false_pass_rate": [0.04, 0.02] if arm == "outcome" else [0.01, 0.0],
                       "rt_false_pass": [0.3, 0.4]}}


def _shared() -> SharedStages:
    sizes = {"sft": 10, "rm_pairs": 5, "rm_select": 3, "bench": 3, "rl_train": 2, "rl_select": 2, "test": 2}
    shares = {name: {"trap": 0.25, "safe": 0.25, "plain": 0.5, "hidden": 0.1} for name in sizes}
    policy = {"path": "policy", "sft": {"cached": False, "demos": {"canonical": 5}}, "wall_seconds": 100.0,
              "eval": {"pass_at_1": 0.35, "reasoning_quality": 0.8, "format_rate": 0.9},
              "readouts": _readouts("outcome", 0), "splits": {"sizes": sizes, "class_shares": shares}}
    generator = {"path": "generator", "sft": {"cached": True}, "wall_seconds": 50.0}
    category = {"n": 10, "accuracy": 0.6, "ci95": [0.3, 0.9]}
    lcb_rb = {"honest": {"n": 50, "accuracy": 0.8, "ci95": [0.7, 0.9], "input_note": "",
                         "categories": {"invalid_skip_rejected": category, "skip_chosen": category, "other": category}},
              "blind": {"n": 50, "accuracy": 0.7, "ci95": [0.6, 0.8], "input_note": "", "categories": {}}}
    pairs = {e: {"count": 40, "by_dimension": {"factual": {"a": 1}}, "status": {}, "train_count": 30,
                 "wall_seconds": 5.0} for e in ("honest", "blind")}
    rms = {e: {"path": f"rm-{e}", "heldout_accuracy": 0.9, "n_train": 25, "head": {"kind": "implicit", "beta": 1.0},
               "wall_seconds": 20.0} for e in ("honest", "blind")}
    bench = {"split": "bench", "problems": 300, "pairs": 50, "path": "b", "rm": lcb_rb, "wall_seconds": 30.0}
    probe = {"by_rm": {"honest": {"pairs": 20, "invalid_accuracy": 0.95, "invalid_ci95": [0.85, 1.0], "invalid_n": 16,
                                  "valid_shortcut_preference": 0.75, "valid_n": 4},
                       "blind": {"pairs": 20, "invalid_accuracy": 0.25, "invalid_ci95": [0.1, 0.45], "invalid_n": 16,
                                 "valid_shortcut_preference": 0.75, "valid_n": 4}}, "wall_seconds": 1.0}
    comparison = {"score_based_made": {"pairs": 60, "problems_used": 20, "samples": 80, "passed": 30},
                  "od_available": 100, "distinct_pairs": 60, "epochs": 1.0, "betas": [1.0], "wall_seconds": 40.0,
                  "select_bench": {"split": "rm_select", "problems": 300, "pairs": 40},
                  "rm": {name: {"chosen_beta": 1.0, "n_train": 51, "candidates": [
                      {"beta": 1.0, "select_accuracy": 0.7, "select_ci95": [0.6, 0.8]}], "bench": lcb_rb["honest"]}
                      for name in ("od", "score_based")}}
    return SharedStages(policy, generator, pairs, rms, bench, probe, comparison)


@pytest.fixture
def canned(monkeypatch, test_tasks):
    """run_study with canned shared stages and RL runs; records the seeds each RL call asked for."""
    import pgrpo_toy.stages_rl as stages_rl
    import pgrpo_toy.study as study

    calls = []
    monkeypatch.setattr(study, "shared_stages", lambda out, config: _shared())

    def fake_rl(out, config, policy, rm_paths):
        calls.append(config.seeds)
        assert rm_paths == {"honest": "rm-honest", "blind": "rm-blind"}
        return [_run(arm, seed, test_tasks) for seed in config.seeds for arm in config.arm_names]

    monkeypatch.setattr(stages_rl, "rl_stages", fake_rl)
    return calls


PRIMARY = "posterior_honest-outcome:hidden_pass_at_1"


def test_study_runs_both_stages_when_the_interim_look_cannot_stop(tmp_path, canned):
    from pgrpo_toy.study import run_study

    report = run_study(DemoConfig(str(tmp_path)), StoppingRule(stages=((0, 1, 2, 3, 4), (5, 6, 7)),
                                                                primary=("posterior_honest", "outcome")))
    assert canned == [(0, 1, 2, 3, 4), tuple(range(8))]
    # K = 5, every difference positive: p = 2/32 = 0.0625 >= 0.025 -> go on; K = 8: the cap
    assert [(look["k"], look["stop"]) for look in report["looks"]] == [(5, False), (8, True)]
    assert report["looks"][0]["sign_flip_p"] == pytest.approx(2 / 32)
    assert report["primary"] == PRIMARY and next(iter(report["comparisons"])) == PRIMARY
    primary = report["comparisons"][PRIMARY]
    # diffs 0.02 + 0.01 * s for s = 0..7: mean 0.02 + 0.01 * 3.5 = 0.055, sd = 0.01 * sd(0..7) = 0.01 * sqrt(6)
    assert primary["diffs"] == pytest.approx([0.02 + 0.01 * s for s in range(8)])
    assert primary["mean"] == pytest.approx(0.055)
    assert primary["sd"] == pytest.approx(0.01 * math.sqrt(6), abs=1e-6)
    half = 2.364624 * 0.01 * math.sqrt(6) / math.sqrt(8)  # t_{0.975,7} * se
    assert primary["ci95"] == pytest.approx([0.055 - half, 0.055 + half], abs=1e-5)
    assert primary["sign_flip_p"] == pytest.approx(2 / 256)
    # the MDE at the decision alpha 0.025 (two-sided), 80% power: (t_{0.9875,7} + t_{0.8,7}) * se
    assert primary["mde_alpha"] == 0.025
    mde = (2.841244 + 0.896030) * 0.01 * math.sqrt(6) / math.sqrt(8)  # (t_{0.9875,7} + t_{0.80,7}) * se
    assert primary["mde"] == pytest.approx(mde, abs=1e-5)
    assert primary["mde"] > (2.364624 + 0.896029) * 0.01 * math.sqrt(6) / math.sqrt(8)  # wider than at alpha 0.05
    # the crossed bootstrap over the 128 hidden-trap test tasks: every task of a seed differs by that
    # seed's difference, so the task term is 0 and the estimate is the mean
    crossed = primary["crossed"]
    assert crossed["k"] == 8 and crossed["t"] == 128 and crossed["estimate"] == pytest.approx(0.055)
    assert crossed["interval"][0] <= 0.055 <= crossed["interval"][1]
    assert primary["variance"]["task_var"] == pytest.approx(0.0, abs=1e-12)
    # overall pass@1: a quarter of the hidden difference, over all 512 test tasks
    overall = report["comparisons"]["posterior_honest-outcome:pass_at_1"]
    assert overall["mean"] == pytest.approx(0.055 / 4) and overall["crossed"]["t"] == 512
    assert report["k"] == 8
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["comparisons"] == report["comparisons"]


def test_study_report_has_the_issue_keys(tmp_path, canned):
    from pgrpo_toy.study import run_study

    report = run_study(DemoConfig(str(tmp_path)))  # the default rule: the world's primary comparison
    assert report["stopping_rule"]["primary"] == ["posterior_honest", "outcome"]
    assert set(report["comparisons"]) == {PRIMARY, "posterior_blind-outcome:hidden_pass_at_1",
                                          "posterior_honest-posterior_blind:hidden_pass_at_1",
                                          "posterior_honest-outcome:pass_at_1", "posterior_blind-outcome:pass_at_1"}
    for name, c in report["comparisons"].items():
        assert {"diffs", "mean", "ci95", "crossed", "variance", "sign_flip_p", "mde", "mde_alpha", "seeds",
                "k"} <= set(c), name
        assert c["crossed"] is not None and set(c["crossed"]) >= {"estimate", "interval", "k", "t"}, name
    for arm in ARMS:
        assert {"pass_at_1", "hidden_pass_at_1", "weak_pass_at_1", "false_pass_rate", "invalid_shortcut_rate",
                "rt_false_pass", "rt_true_pass", "train"} <= set(report["arms"][arm]), arm
    assert report["arms"]["posterior_blind"]["rt_false_pass"] == pytest.approx(0.7)
    assert report["arms"]["outcome"]["train"]["false_pass_rate"] == pytest.approx(0.03)
    validity = report["validity"]
    assert validity["outcome_train_false_pass_rate"]["value"] == pytest.approx(0.03)
    assert validity["outcome_train_false_pass_rate"]["holds"] is True
    assert validity["honest_probe_accuracy"] == {**validity["honest_probe_accuracy"], "value": 0.95, "holds": True}
    assert report["rm_probes"]["blind"]["invalid_accuracy"] == 0.25
    assert report["rm_lcb_rb"]["honest"]["categories"]["skip_chosen"]["n"] == 10
    assert set(report["od_vs_score_based"]["rm"]) == {"od", "score_based"}
    assert "seeds [0, 1, 2, 3, 4, 5, 6, 7] first" in report["stopping_rule"]["description"]
    assert "cannot stop" not in report["stopping_rule"]["description"]
    # evaluation noise of a per-seed difference: sqrt(0.03^2 + 0.03^2) = 0.0424
    noise = report["evaluation_noise"]["posterior_honest-outcome:pass_at_1"]
    assert noise["eval_se_of_diff"] == pytest.approx(0.0424, abs=1e-4)
    assert {"policy", "generator", "pairs-honest", "reward_model-blind", "comparison", "rl_runs_sum"} \
        <= set(report["stage_seconds"])
    markdown = (tmp_path / "report.md").read_text()
    assert f"| {PRIMARY} | 8 |" in markdown and "**+0.055**" in markdown  # the interval excludes 0
    hb = report["comparisons"]["posterior_honest-posterior_blind:hidden_pass_at_1"]
    assert hb["mean"] == pytest.approx(-0.00125)
    assert hb["ci95"][0] < 0 < hb["ci95"][1] and f"| {hb['mean']:+.3f} |" in markdown  # not bolded


def test_study_stops_at_the_interim_look_when_the_rule_allows(tmp_path, canned):
    from pgrpo_toy.study import run_study

    rule = StoppingRule(stages=((0, 1, 2, 3, 4, 5, 6), (7,)), primary=("posterior_honest", "outcome"))
    report = run_study(DemoConfig(str(tmp_path)), rule)
    assert canned == [tuple(range(7))]
    assert [(look["k"], look["stop"]) for look in report["looks"]] == [(7, True)]  # p = 2/128 < 0.025
    assert report["comparisons"][PRIMARY]["k"] == 7


def test_study_refuses_arms_without_its_primary_comparison(tmp_path, canned):
    from pgrpo.errors import PgrpoError
    from pgrpo_toy.study import run_study

    with pytest.raises(PgrpoError, match="primary comparison"):
        run_study(DemoConfig(str(tmp_path), arms=("outcome", "posterior_blind")))
    assert canned == []


@pytest.mark.slow
def test_a_tiny_real_study(tmp_path):
    # The real pipeline (quick budget, 1 RL step, two arms, no OD vs score-based stage, a 2 + 1 seed
    # rule): the looks follow the rule and the report reads every run the rule asked for.
    from pgrpo_toy.demo import quick_config
    from pgrpo_toy.study import run_study

    config = quick_config(str(tmp_path / "study"), cache_dir=str(tmp_path / "cache"), rl_steps=1, eval_problems=8,
                          eval_samples=2, progress=False, arms=("outcome", "posterior_honest"), baseline=False)
    report = run_study(config, StoppingRule(stages=((0, 1), (2,)), primary=("posterior_honest", "outcome")))
    # K = 2 can never reach p < 0.025 (smallest p 2/4): the second stage runs
    assert [(look["k"], look["stop"]) for look in report["looks"]] == [(2, False), (3, True)]
    assert sorted(p.name for p in (tmp_path / "study" / "rl").iterdir()) == sorted(
        f"{arm}-seed{s}" for arm in ("outcome", "posterior_honest") for s in (0, 1, 2))
    primary = report["comparisons"][PRIMARY]
    assert report["primary"] == PRIMARY and primary["seeds"] == [0, 1, 2] and len(primary["diffs"]) == 3
    by_run = {(r["arm"], r["seed"]): r["readouts"]["hidden_pass_at_1"] for r in report["runs"]}
    assert primary["diffs"] == pytest.approx(
        [by_run[("posterior_honest", s)] - by_run[("outcome", s)] for s in range(3)], abs=1e-6)
    assert report["validity"]["honest_probe_accuracy"]["value"] is not None
    assert (tmp_path / "study" / "report.md").read_text().startswith("# pgrpo demo --study report")


def test_a_difference_is_bolded_only_when_the_decision_test_holds():
    from pgrpo_toy.report_render import comparison_table

    # K = 4, all positive: the t-interval excludes 0 but the smallest sign-flip p is 2/16 = 0.125
    c = {"k": 4, "diffs": [0.1, 0.11, 0.12, 0.13], "mean": 0.115, "ci95": [0.09, 0.14], "sign_flip_p": 0.125,
         "mde": 0.03, "mde_alpha": 0.025, "crossed": None, "variance": None}
    assert "**" not in "\n".join(comparison_table({PRIMARY: c}, "comparison", 0.025))
    strong = {**c, "k": 8, "sign_flip_p": 2 / 256}
    table = "\n".join(comparison_table({PRIMARY: strong}, "comparison", 0.025))
    assert "**+0.115**" in table and "0.030 (alpha 0.025)" in table
    crossing = {**strong, "ci95": [-0.01, 0.2]}
    assert "**" not in "\n".join(comparison_table({PRIMARY: crossing}, "comparison", 0.025))
