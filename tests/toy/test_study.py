"""`pgrpo demo --study` without training: the staged seeds and stopping rule, and the report
assembled from fixed numbers (the RL and shared stages are replaced by canned results)."""

from __future__ import annotations

import json
import math

import pytest

from pgrpo.toy.demo import SharedStages
from pgrpo.toy.demo_config import DemoConfig
from pgrpo.toy.stats import StoppingRule

# pass@1 per (mode, seed): posterior beats outcome on every seed by 0.02 + 0.01 * seed
# and differs from additive by alternating signs (posterior - additive: mean -0.01 / 8)
PASS = {"outcome": [0.40, 0.42, 0.38, 0.45, 0.41, 0.39, 0.44, 0.40]}
PASS["posterior"] = [o + 0.02 + 0.01 * s for s, o in enumerate(PASS["outcome"])]
PASS["additive"] = [p + d for p, d in zip(PASS["posterior"], [0.05, -0.04, 0.03, -0.05, 0.02, -0.03, 0.04, -0.01])]


def _readouts(mode: str, seed: int) -> dict:
    return {"samples": 64, "pass_at_1": PASS[mode][seed], "trap_pass_at_1": 0.2, "other_pass_at_1": 0.5,
            "rt_passing": 0.6, "rt_failing": {"outcome": 0.3, "additive": 0.5, "posterior": 0.35}[mode],
            "valid_shortcut_rate": 0.1, "invalid_shortcut_rate": 0.05, "reasoning_quality": 0.8,
            "pass_at_1_se": 0.03}


def _run(mode: str, seed: int) -> dict:
    return {"mode": mode, "seed": seed, "steps": 2, "wall_seconds": 10.0, "eval": {"format_rate": 1.0},
            "readouts": _readouts(mode, seed),
            "curves": {"step": [1, 2], "thinking_reward": [0.4, 0.5]}}


def _shared() -> SharedStages:
    sizes = {"sft": 10, "rm_pairs": 5, "rm_select": 3, "bench": 3, "rl_train": 2, "rl_select": 2, "test": 2}
    shares = {name: {"trap": 0.25, "safe": 0.25, "plain": 0.5} for name in sizes}
    policy = {"path": "policy", "sft": {"cached": False, "demos": {"canonical": 5}}, "wall_seconds": 100.0,
              "eval": {"pass_at_1": 0.35, "reasoning_quality": 0.8, "format_rate": 0.9},
              "readouts": _readouts("outcome", 0), "splits": {"sizes": sizes, "class_shares": shares}}
    pairs = {"count": 40, "by_dimension": {"factual": {"a": 1}}, "status": {}, "train_count": 30, "wall_seconds": 5.0}
    rm = {"path": "rm", "heldout_accuracy": 0.9, "n_train": 25, "head": {"kind": "implicit", "beta": 1.0},
          "wall_seconds": 20.0}
    bench = {"split": "bench", "pairs": 50, "lcb_rb_accuracy": 0.8, "lcb_rb_ci95": [0.7, 0.9], "path": "b",
             "wall_seconds": 30.0}
    probe = {"pairs": 20, "invalid_accuracy": 0.25, "invalid_ci95": [0.1, 0.45], "invalid_n": 16,
             "valid_shortcut_preference": 0.75, "valid_n": 4, "wall_seconds": 1.0}
    baseline = {"pairs": 12, "problems_used": 10, "train_count": 30, "cycled": True, "lcb_rb_accuracy": 0.7,
                "lcb_rb_ci95": [0.6, 0.8], "rm": {"heldout_accuracy": 0.6}, "probe": {"pairs": 20}, "wall_seconds": 40.0}
    return SharedStages(policy, pairs, rm, bench, probe, baseline)


@pytest.fixture
def canned(monkeypatch):
    """run_study with canned shared stages and RL runs; records the seeds each RL call asked for."""
    import pgrpo.toy.stages_rl as stages_rl
    import pgrpo.toy.study as study

    calls = []
    monkeypatch.setattr(study, "shared_stages", lambda out, config: _shared())

    def fake_rl(out, config, policy, rm):
        calls.append(config.seeds)
        return [_run(mode, seed) for seed in config.seeds for mode in config.modes]

    monkeypatch.setattr(stages_rl, "rl_stages", fake_rl)
    return calls


def test_study_runs_both_stages_when_the_interim_look_cannot_stop(tmp_path, canned):
    from pgrpo.toy.study import run_study

    report = run_study(DemoConfig(str(tmp_path)), StoppingRule(stages=((0, 1, 2, 3, 4), (5, 6, 7))))
    assert canned == [(0, 1, 2, 3, 4), tuple(range(8))]
    # K = 5, every difference positive: p = 2/32 = 0.0625 >= 0.025 -> go on; K = 8: the cap
    assert [(look["k"], look["stop"]) for look in report["looks"]] == [(5, False), (8, True)]
    assert report["looks"][0]["sign_flip_p"] == pytest.approx(2 / 32)
    primary = report["comparisons"]["posterior-outcome"]
    # diffs 0.02 + 0.01 * s for s = 0..7: mean 0.02 + 0.01 * 3.5 = 0.055, sd = 0.01 * sd(0..7) = 0.01 * sqrt(6)
    assert primary["diffs"] == pytest.approx([0.02 + 0.01 * s for s in range(8)])
    assert primary["mean"] == pytest.approx(0.055)
    assert primary["sd"] == pytest.approx(0.01 * math.sqrt(6), abs=1e-6)
    half = 2.364624 * 0.01 * math.sqrt(6) / math.sqrt(8)  # t_{0.975,7} * se
    assert primary["ci95"] == pytest.approx([0.055 - half, 0.055 + half], abs=1e-5)
    assert primary["sign_flip_p"] == pytest.approx(2 / 256)
    assert primary["mde80"] == pytest.approx((2.364624 + 0.896029) * 0.01 * math.sqrt(6) / math.sqrt(8), abs=1e-5)
    assert report["k"] == 8 and report["primary"] == "posterior-outcome"
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["comparisons"] == report["comparisons"]


def test_study_report_has_the_issue_keys(tmp_path, canned):
    from pgrpo.toy.study import run_study

    report = run_study(DemoConfig(str(tmp_path)))
    for name in ("posterior-outcome", "posterior-additive"):
        assert {"diffs", "mean", "ci95", "sign_flip_p", "mde80", "seeds", "k"} <= set(report["comparisons"][name])
    for mode in ("outcome", "additive", "posterior"):
        assert {"pass_at_1", "trap_pass_at_1", "rt_failing", "invalid_shortcut_rate"} <= set(report["modes"][mode])
    assert report["modes"]["additive"]["rt_failing"] == pytest.approx(0.5)
    assert report["rm_probe"]["invalid_accuracy"] == 0.25 and report["rm_probe"]["invalid_ci95"] == [0.1, 0.45]
    assert report["baseline"]["lcb_rb_accuracy"] == 0.7 and report["baseline"]["lcb_rb_ci95"] == [0.6, 0.8]
    assert "seeds [0, 1, 2, 3, 4, 5, 6, 7] first" in report["stopping_rule"]["description"]
    assert "cannot stop" not in report["stopping_rule"]["description"]
    # evaluation noise of a per-seed difference: sqrt(0.03^2 + 0.03^2) = 0.0424
    assert report["evaluation_noise"]["posterior-outcome"]["eval_se_of_diff"] == pytest.approx(0.0424, abs=1e-4)
    assert set(report["secondary_comparisons"]) == {"trap_pass_at_1", "rt_failing", "invalid_shortcut_rate"}
    # posterior - additive on R_t failing: 0.35 - 0.5 on every seed
    assert report["secondary_comparisons"]["rt_failing"]["posterior-additive"]["mean"] == pytest.approx(-0.15)
    markdown = (tmp_path / "report.md").read_text()
    assert "| posterior-outcome | 8 |" in markdown and "**+0.055**" in markdown  # the interval excludes 0
    pa = report["comparisons"]["posterior-additive"]
    assert pa["mean"] == pytest.approx(-0.00125)
    assert pa["ci95"][0] < 0 < pa["ci95"][1] and f"| {pa['mean']:+.3f} |" in markdown  # not bolded


def test_study_stops_at_the_interim_look_when_the_rule_allows(tmp_path, canned):
    from pgrpo.toy.study import run_study

    rule = StoppingRule(stages=((0, 1, 2, 3, 4, 5, 6), (7,)))
    report = run_study(DemoConfig(str(tmp_path)), rule)
    assert canned == [tuple(range(7))]
    assert [(look["k"], look["stop"]) for look in report["looks"]] == [(7, True)]  # p = 2/128 < 0.025
    assert report["comparisons"]["posterior-outcome"]["k"] == 7


@pytest.mark.slow
def test_a_tiny_real_study(tmp_path):
    # The real pipeline (quick budget, 1 RL step, a 2 + 1 seed rule): the looks follow the rule and
    # the report reads every run the rule asked for. ~1.5 min on 2 cores, most of it the quick SFT.
    from pgrpo.toy.demo import quick_config
    from pgrpo.toy.study import run_study

    config = quick_config(str(tmp_path / "study"), cache_dir=str(tmp_path / "cache"), rl_steps=1, eval_problems=8,
                          eval_samples=2, progress=False)
    report = run_study(config, StoppingRule(stages=((0, 1), (2,))))
    # K = 2 can never reach p < 0.025 (smallest p 2/4): the second stage runs
    assert [(look["k"], look["stop"]) for look in report["looks"]] == [(2, False), (3, True)]
    assert sorted(p.name for p in (tmp_path / "study" / "rl").iterdir()) == sorted(
        f"{m}-seed{s}" for m in ("outcome", "additive", "posterior") for s in (0, 1, 2))
    primary = report["comparisons"]["posterior-outcome"]
    assert primary["seeds"] == [0, 1, 2] and len(primary["diffs"]) == 3
    by_run = {(r["mode"], r["seed"]): r["readouts"]["pass_at_1"] for r in report["runs"]}
    assert primary["diffs"] == pytest.approx([by_run[("posterior", s)] - by_run[("outcome", s)] for s in range(3)],
                                             abs=1e-6)
    assert (tmp_path / "study" / "report.md").read_text().startswith("# pgrpo demo --study report")


def test_a_difference_is_bolded_only_when_the_decision_test_holds():
    from pgrpo.toy.report import comparison_table

    # K = 4, all positive: the t-interval excludes 0 but the smallest sign-flip p is 2/16 = 0.125
    c = {"k": 4, "diffs": [0.1, 0.11, 0.12, 0.13], "mean": 0.115, "ci95": [0.09, 0.14], "sign_flip_p": 0.125,
         "mde80": 0.03}
    assert "**" not in "\n".join(comparison_table({"posterior-outcome": c}, "comparison", 0.025))
    strong = {**c, "k": 8, "sign_flip_p": 2 / 256}
    assert "**+0.115**" in "\n".join(comparison_table({"posterior-outcome": strong}, "comparison", 0.025))
    crossing = {**strong, "ci95": [-0.01, 0.2]}
    assert "**" not in "\n".join(comparison_table({"posterior-outcome": crossing}, "comparison", 0.025))
