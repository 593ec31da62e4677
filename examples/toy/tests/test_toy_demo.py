"""`pgrpo demo --quick` end to end (one shared run, the weak world by default): report keys, budget
figures, run files from their splits, no strong test in training, common random numbers across
arms, resume; the stage runner refuses stale results. (Settings and pools: test_demo_config.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgrpo.cli import main

ARMS = ("outcome", "posterior_honest", "posterior_blind")


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--arms", "outcome,bogus"]) == 2
    assert "--arms" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--seeds", "a,b"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--study", "--seeds", "0,1"]) == 2
    assert "stopping rule" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--study", "--arms", "posterior_blind,outcome"]) == 2
    assert "primary comparison" in capsys.readouterr().err
    assert not (tmp_path / "policy").exists()  # refused before any stage ran


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `pgrpo demo --quick` run shared by the assertions below (it takes ~2 min)."""
    root = tmp_path_factory.mktemp("quick-demo")
    out, cache = root / "run", root / "cache"
    assert main(["demo", "--quick", "--quiet", "--out", str(out), "--cache-dir", str(cache)]) == 0
    return out, cache, json.loads((out / "report.json").read_text())


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_quick_demo_report_keys(quick_run):
    out, _, report = quick_run
    assert report["world"] == "weak" and report["train_tests"] == "weak"  # the default world
    assert report["config"]["arms"] == list(ARMS) and report["splits"]["eval_split"] == "test"
    assert report["splits"]["sizes"]["test"] == 512
    assert set(report["splits"]["class_shares"]["test"]) == {"trap", "safe", "plain", "hidden"}
    assert report["splits"]["class_shares"]["test"]["hidden"] == 0.25
    assert isinstance(report["policy"]["sft_pass_at_1"], float)
    assert set(report["reward_models"]) == {"honest", "blind"}
    for editor, rm in report["reward_models"].items():
        assert rm["pairs"] > 0, editor
        coherence = sum(rm["by_dimension"]["coherence"].values())
        assert rm["rm_train_count"] == rm["pairs"] - coherence + round(0.25 * coherence), editor
        assert rm["probe"]["pairs"] > 0 and 0.0 <= rm["probe"]["invalid_accuracy"] <= 1.0, editor
        assert {"n", "accuracy", "ci95", "categories"} <= set(rm["lcb_rb"]), editor
        assert set(rm["lcb_rb"]["categories"]) == {"invalid_skip_rejected", "skip_chosen", "other"}, editor
    od = report["od_vs_score_based"]
    assert set(od["rm"]) == {"od", "score_based"} and od["distinct_pairs"] > 0
    for name, rm in od["rm"].items():
        assert rm["n_train"] == od["distinct_pairs"], name  # equal distinct pairs, all of them trained on
        assert set(rm["bench"]["categories"]) == {"invalid_skip_rejected", "skip_chosen", "other"}, name
    assert set(report["arms"]) == set(ARMS)
    for arm, r in report["arms"].items():
        for key in ("pass_at_1", "hidden_pass_at_1", "weak_pass_at_1", "false_pass_rate", "invalid_shortcut_rate",
                    "rt_false_pass", "rt_true_pass", "train", "steps"):
            assert key in r, (arm, key)
        assert r["steps"] >= 1 and {"false_pass_rate", "invalid_shortcut_rate", "rt_false_pass"} <= set(r["train"])
        assert r["weak_pass_at_1"] >= r["pass_at_1"]  # the weak tests are a subset of the strong ones
    assert set(report["validity"]) == {"outcome_train_false_pass_rate", "honest_probe_accuracy"}
    assert report["validity"]["honest_probe_accuracy"]["value"] == \
        report["reward_models"]["honest"]["probe"]["invalid_accuracy"]
    for run in report["runs"]:  # per-step curves: strong vs weak verdicts, false passes, R_t on both
        assert {"pass_rate", "train_pass_rate", "false_pass_rate", "rt_true_pass", "rt_false_pass",
                "invalid_shortcut_rate", "hidden_pass_rate"} <= set(run["curves"])
        assert len(run["curves"]["step"]) == run["steps"]
    assert set(report["comparisons"]) == {
        "posterior_honest-outcome:hidden_pass_at_1", "posterior_blind-outcome:hidden_pass_at_1",
        "posterior_honest-posterior_blind:hidden_pass_at_1", "posterior_honest-outcome:pass_at_1",
        "posterior_blind-outcome:pass_at_1"}
    for name, c in report["comparisons"].items():  # one seed: the statistics are n/a, the keys are there
        for key in ("diffs", "mean", "ci95", "crossed", "sign_flip_p", "mde", "mde_alpha"):
            assert key in c, (name, key)
        assert c["seeds"] == [0] and len(c["diffs"]) == 1 and c["mde_alpha"] == 0.025
    for name in report["plots"]:
        assert (out / name).stat().st_size > 1000
    markdown = (out / "report.md").read_text()
    assert "| posterior_honest |" in markdown and "Validity checks" in markdown


@pytest.mark.slow
def test_quick_demo_meets_its_budget_figures(quick_run):
    _, _, report = quick_run
    assert report["policy"]["sft_pass_at_1"] > 0.1
    assert report["bench"]["pairs"] >= 20


@pytest.mark.slow
def test_quick_demo_files_come_from_their_splits(quick_run):
    from pgrpo_toy.splits import make_splits

    out, _, _ = quick_run
    splits = make_splits(0)
    rl_train = {t.task_id for t in splits.tasks("rl_train")}
    test = {t.task_id for t in splits.tasks("test")}
    runs = sorted((out / "rl").iterdir())
    assert [r.name for r in runs] == sorted(f"{arm}-seed0" for arm in ARMS)
    for run in runs:
        assert {r["task_id"] for r in _jsonl(run / "problems.jsonl")} <= rl_train
        assert {r["task_id"] for r in _jsonl(run / "eval_samples.jsonl")} <= test


@pytest.mark.slow
def test_quick_demo_trains_on_the_weak_tests_only(quick_run):
    from pgrpo.data.schema import problem_from_dict
    from pgrpo_toy.world import TEST_INPUTS, WEAK_TEST_INPUTS

    out, _, _ = quick_run
    for arm in ARMS:
        run = out / "rl" / f"{arm}-seed0"
        problems = [problem_from_dict(row) for row in _jsonl(run / "problems.jsonl")]
        assert problems and all([c.inputs for c in p.tests.call_cases] == [(x,) for x in WEAK_TEST_INPUTS]
                                for p in problems), arm
        # GRPO read exactly this file
        source = (run / "train" / "train_config.yaml").read_text().split("source:", 1)[1].split()[0]
        assert Path(source.strip("'\"")) == run / "problems.jsonl", arm
        # evaluation: a strong and a weak verdict per sample; a strong pass is a weak pass (the weak
        # inputs are a subset of the strong ones), never the other way round
        samples = _jsonl(run / "eval_samples.jsonl")
        assert samples and all(isinstance(s["weak_passed"], bool) for s in samples), arm
        assert all(s["weak_passed"] for s in samples if s["passed"]), arm
    assert set(WEAK_TEST_INPUTS) < set(TEST_INPUTS)


@pytest.mark.slow
def test_arms_of_one_seed_share_prompts_and_evaluation_draws(quick_run):
    out, _, _ = quick_run
    runs = {arm: out / "rl" / f"{arm}-seed0" for arm in ARMS}
    prompts = {a: [(r["step"], r["task_id"]) for r in _jsonl(d / "train" / "samples.jsonl")] for a, d in runs.items()}
    assert prompts["outcome"] and prompts["outcome"] == prompts["posterior_honest"] == prompts["posterior_blind"]
    order = [t for _, t in prompts["outcome"]]
    dataset = [r["task_id"] for r in _jsonl(runs["outcome"] / "problems.jsonl")]
    assert order[::4] != dataset[:len(order[::4])]  # a seeded shuffle, not the file order
    draws = {a: [(r["task_id"], r["index"], r["seed"]) for r in _jsonl(d / "eval_samples.jsonl")]
             for a, d in runs.items()}
    assert draws["outcome"] and draws["outcome"] == draws["posterior_honest"] == draws["posterior_blind"]
    starts = {(d / "train" / "train_config.yaml").read_text().split("path:", 1)[1].split()[0] for d in runs.values()}
    assert len(starts) == 1  # the same initial (SFT) policy
    # each posterior arm trained with its own editor's RM
    results = {a: json.loads((d / "result.json").read_text()) for a, d in runs.items()}
    assert [results[a]["rm_editor"] for a in ARMS] == [None, "honest", "blind"]


@pytest.mark.slow
def test_evaluation_draws_of_a_batch_do_not_depend_on_earlier_batches(quick_run):
    """Common random numbers in evaluation: the sampler is reseeded per batch, so a batch's draws
    are the same whatever earlier batches consumed (a policy whose first batch ran longer or
    shorter would otherwise shift every later draw)."""
    from pgrpo_toy.evaluate import sample_responses
    from pgrpo_toy.splits import make_splits, split_problems

    _, _, report = quick_run
    policy = report["policy"]["path"]
    a, b, shared = split_problems(make_splits(), "rl_select", 3)
    first = sample_responses(policy, [a, shared], n=4, seed=7, batch_size=4)
    second = sample_responses(policy, [b, shared], n=4, seed=7, batch_size=4)
    assert first[0] != second[0]  # different first batches (different prompts, different draws used)
    assert first[1] == second[1]  # the second batch: same prompt, same draws -> the same samples
    assert sample_responses(policy, [shared], n=4, seed=8, batch_size=4)[0] != first[1]  # the seed matters


@pytest.mark.slow
def test_quick_demo_resumes(quick_run):
    out, cache, report = quick_run
    assert main(["demo", "--quick", "--quiet", "--out", str(out), "--cache-dir", str(cache)]) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["arms"]["posterior_honest"]["pass_at_1"] == report["arms"]["posterior_honest"]["pass_at_1"]
    assert again["policy"]["sft_cached"] is False  # the stage was reused, not the policy re-read


def test_a_stage_result_from_another_demo_version_is_refused(tmp_path):
    from pgrpo.errors import PgrpoError
    from pgrpo_toy.demo_config import DemoConfig
    from pgrpo_toy.stage import DEMO_VERSION, run_stage, stage_key

    calls = []
    key = stage_key(DemoConfig(str(tmp_path)))
    first = run_stage(tmp_path, "pairs", lambda stage_dir: calls.append(stage_dir) or {"count": 3}, key=key)
    assert first["demo_version"] == DEMO_VERSION == 6 and len(calls) == 1
    assert run_stage(tmp_path, "pairs", lambda stage_dir: calls.append(stage_dir) or {}, key=key)["count"] == 3
    assert len(calls) == 1  # reused, not rerun
    (tmp_path / "pairs" / "result.json").write_text(json.dumps({"count": 3}))  # an older demo's result
    with pytest.raises(PgrpoError, match=r"pairs/result.json: written by another version of pgrpo demo"):
        run_stage(tmp_path, "pairs", lambda stage_dir: {}, key=key)


def test_a_stage_result_with_other_settings_is_refused(tmp_path):
    from pgrpo.errors import PgrpoError
    from pgrpo_toy.demo_config import DemoConfig, quick_config
    from pgrpo_toy.stage import run_stage, stage_key

    calls = []
    weak = DemoConfig(str(tmp_path / "a"), jobs=1, seeds=(0,))
    run_stage(tmp_path, "policy", lambda stage_dir: calls.append(1) or {"n": 1}, key=stage_key(weak))
    # out_dir, jobs, seeds, arms, progress do not define a stage: the same settings otherwise reuse it
    same = DemoConfig(str(tmp_path / "b"), jobs=2, seeds=(3, 4), progress=False, arms=("outcome", "posterior_honest"))
    assert run_stage(tmp_path, "policy", lambda stage_dir: calls.append(2) or {}, key=stage_key(same))["n"] == 1
    assert calls == [1]
    # another world also trains other RMs: the editors are part of the key (DemoConfig.editors)
    with pytest.raises(PgrpoError, match=r"stage policy was run with other settings \(editors, world differ\)"):
        run_stage(tmp_path, "policy", lambda stage_dir: {}, key=stage_key(DemoConfig(str(tmp_path), world="clean")))
    # arms that need no other RM in the trap world's key: ("blind",) either way; one more editor differs
    trap = DemoConfig(str(tmp_path), world="trap")
    assert stage_key(trap)["editors"] == ["blind"]
    assert stage_key(DemoConfig(str(tmp_path), world="trap", arms=("outcome", "posterior_honest")))["editors"] \
        == ["blind", "honest"]
    with pytest.raises(PgrpoError, match=r"eval_problems, .*quick, .*rl_steps.*sft differ"):
        run_stage(tmp_path, "policy", lambda stage_dir: {}, key=stage_key(quick_config(str(tmp_path))))
    with pytest.raises(PgrpoError, match=r"\(seed differ\)"):
        run_stage(tmp_path, "policy", lambda stage_dir: {}, key=stage_key(weak, seed=1))
    assert calls == [1]


def test_rm_training_pairs_keep_a_seeded_share_of_coherence_pairs(tmp_path):
    from pgrpo.data.io import read_jsonl, write_jsonl
    from pgrpo.errors import PgrpoError
    from pgrpo_toy.demo import DemoConfig, rm_training_pairs

    rows = [{"prompt": f"p{i}", "chosen": "a", "rejected": "b", "dimension": dim}
            for i, dim in enumerate(["coherence"] * 8 + ["factual"] * 3 + ["logic"] * 2)]
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    path, count = rm_training_pairs(tmp_path / "pairs.jsonl", 0.25)
    kept = read_jsonl(path)
    assert count == len(kept) == 3 + 2 + 2
    assert sum(r["dimension"] == "coherence" for r in kept) == 2
    assert read_jsonl(rm_training_pairs(tmp_path / "pairs.jsonl", 0.25)[0]) == kept  # seeded
    assert rm_training_pairs(tmp_path / "pairs.jsonl", 1.0) == (tmp_path / "pairs.jsonl", 13)
    with pytest.raises(PgrpoError, match="coherence_pair_fraction"):
        DemoConfig("out", coherence_pair_fraction=1.5)
