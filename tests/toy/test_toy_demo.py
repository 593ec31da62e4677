"""`pgrpo demo`: split disjointness of every stage pool, and `--quick` end to end (one shared run):
report keys, common random numbers across modes, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgrpo.cli import main


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--modes", "outcome,bogus"]) == 2
    assert "--modes" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--seeds", "a,b"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--study", "--seeds", "0,1"]) == 2
    assert "stopping rule" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--study", "--modes", "posterior,additive"]) == 2
    assert "primary comparison" in capsys.readouterr().err


def _owners(pools):
    owner = {}
    for use, tasks in pools.items():
        for task in tasks:
            owner.setdefault(task.steps, set()).add(use)
    return owner


@pytest.mark.parametrize("quick", [False, True])
def test_every_stage_pool_is_disjoint_by_step_program(quick):
    from pgrpo.toy.demo_config import DemoConfig, quick_config
    from pgrpo.toy.splits import make_splits
    from pgrpo.toy.stages_rm import stage_pools

    config = quick_config("x") if quick else DemoConfig("x")
    pools = stage_pools(config)
    assert all(pools.values()), {k: len(v) for k, v in pools.items()}
    shared = {steps: uses for steps, uses in _owners(pools).items() if len(uses) > 1}
    assert not shared, list(shared.items())[:3]
    # and each pool lies inside the split it is meant to come from
    split_of = {t.steps: name for name, tasks in make_splits().by_name.items() for t in tasks}
    expected = {"sft": "sft", "rm_pairs": "rm_pairs", "probe": "rm_select", "bench": "bench",
                "rl_train": "rl_train", "eval": "test"}
    for use, tasks in pools.items():
        assert {split_of[t.steps] for t in tasks} == {expected[use]}, use
    assert len(pools["eval"]) == config.eval_problems and len(pools["bench"]) == config.bench_problems


def test_selection_runs_never_read_the_reported_splits():
    from pgrpo.toy.demo_config import DemoConfig
    from pgrpo.toy.splits import make_splits
    from pgrpo.toy.stages_rm import stage_pools

    pools = stage_pools(DemoConfig("x", evaluate_on="selection"))
    splits = make_splits(0)
    reported = {t.steps for name in ("bench", "test") for t in splits.tasks(name)}
    assert not reported & {t.steps for tasks in pools.values() for t in tasks}
    assert {t.steps for t in pools["eval"]} <= {t.steps for t in splits.tasks("rl_select")}


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
    assert report["world"] == "trap" and report["splits"]["eval_split"] == "test"
    assert report["splits"]["sizes"]["test"] == 128 and set(report["splits"]["class_shares"]["test"]) == {
        "trap", "safe", "plain"}
    assert isinstance(report["policy"]["sft_pass_at_1"], float)
    assert report["pairs"]["count"] > 0
    coherence = sum(report["pairs"]["by_dimension"]["coherence"].values())
    assert report["pairs"]["rm_train_count"] == report["pairs"]["count"] - coherence + round(0.25 * coherence)
    for key in ("heldout_accuracy", "lcb_rb_accuracy", "lcb_rb_ci95", "lcb_rb_pairs"):
        assert key in report["reward_model"], key
    assert report["probe"]["pairs"] > 0 and 0.0 <= report["probe"]["invalid_accuracy"] <= 1.0
    assert set(report["baseline"]) >= {"pairs", "lcb_rb_accuracy", "lcb_rb_ci95"}
    assert set(report["rl"]) == {"outcome", "additive", "posterior"}
    for mode, r in report["rl"].items():
        for key in ("pass_at_1", "trap_pass_at_1", "other_pass_at_1", "rt_failing", "invalid_shortcut_rate",
                    "valid_shortcut_rate", "reasoning_quality", "steps"):
            assert key in r, (mode, key)
        assert r["steps"] >= 1
    for run in report["runs"]:  # per-step curves split by pass / fail and task class
        assert {"rt_passing", "rt_failing", "trap_pass_rate", "invalid_shortcut_rate"} <= set(run["curves"])
        assert len(run["curves"]["step"]) == run["steps"]
    assert set(report["comparisons"]) == {"posterior-outcome", "posterior-additive"}
    for name in report["plots"]:
        assert (out / name).stat().st_size > 1000
    assert "| posterior |" in (out / "report.md").read_text()


@pytest.mark.slow
def test_quick_demo_meets_its_budget_figures(quick_run):
    _, _, report = quick_run
    assert report["policy"]["sft_pass_at_1"] > 0.1
    assert report["reward_model"]["lcb_rb_pairs"] >= 20


@pytest.mark.slow
def test_quick_demo_files_come_from_their_splits(quick_run):
    from pgrpo.toy.splits import make_splits

    out, _, _ = quick_run
    splits = make_splits(0)
    rl_train = {t.task_id for t in splits.tasks("rl_train")}
    test = {t.task_id for t in splits.tasks("test")}
    for run in (out / "rl").iterdir():
        assert {r["task_id"] for r in _jsonl(run / "problems.jsonl")} <= rl_train
        assert {r["task_id"] for r in _jsonl(run / "eval_samples.jsonl")} <= test


@pytest.mark.slow
def test_modes_of_one_seed_share_prompts_and_evaluation_draws(quick_run):
    out, _, _ = quick_run
    runs = {mode: out / "rl" / f"{mode}-seed0" for mode in ("outcome", "additive", "posterior")}
    prompts = {m: [(r["step"], r["task_id"]) for r in _jsonl(d / "train" / "samples.jsonl")] for m, d in runs.items()}
    assert prompts["outcome"] and prompts["outcome"] == prompts["additive"] == prompts["posterior"]
    order = [t for _, t in prompts["outcome"]]
    dataset = [r["task_id"] for r in _jsonl(runs["outcome"] / "problems.jsonl")]
    assert order[::4] != dataset[:len(order[::4])]  # a seeded shuffle, not the file order
    draws = {m: [(r["task_id"], r["index"], r["seed"]) for r in _jsonl(d / "eval_samples.jsonl")]
             for m, d in runs.items()}
    assert draws["outcome"] and draws["outcome"] == draws["additive"] == draws["posterior"]
    starts = {(d / "train" / "train_config.yaml").read_text().split("path:", 1)[1].split()[0] for d in runs.values()}
    assert len(starts) == 1  # the same initial (SFT) policy


@pytest.mark.slow
def test_evaluation_draws_of_a_batch_do_not_depend_on_earlier_batches(quick_run):
    """Common random numbers in evaluation: the sampler is reseeded per batch, so a batch's draws
    are the same whatever earlier batches consumed (a policy whose first batch ran longer or
    shorter would otherwise shift every later draw)."""
    from pgrpo.toy.evaluate import sample_responses
    from pgrpo.toy.splits import make_splits, split_problems

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
    assert again["rl"]["posterior"]["pass_at_1"] == report["rl"]["posterior"]["pass_at_1"]
    assert again["policy"]["sft_cached"] is False  # the stage was reused, not the policy re-read


def test_lcb_rb_is_scored_on_the_rm_training_layout(tmp_path, tiny_rm_path):
    # The demo's RM is trained on reasoning-only pairs: LCB-RB sides must be scored without
    # their code (an earlier build appended it, a layout the RM never saw).
    import dataclasses
    import shutil

    from pgrpo.rm.manifest import read_manifest, write_manifest
    from pgrpo.rm.scoring import RewardScorer, RMItem
    from pgrpo.toy.demo import score_lcb_rb

    rm = tmp_path / "rm"
    shutil.copytree(tiny_rm_path, rm)
    write_manifest(rm, dataclasses.replace(read_manifest(rm), include_code=False))
    rows = [{"question_id": f"q{i}", "problem": f"Write f{i}.", "difficulty": "easy", "contest_date": "2024-01-01",
             "chosen_reasoning": f"Step 1: add {i} to x.", "chosen_code": "def f(x):\n    return x\n" * 3,
             "rejected_reasoning": f"Step 1: negate x twice {i}.", "rejected_code": "def f(x):\n    pass\n"}
            for i in range(6)]
    bench = tmp_path / "lcb_rb.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    accuracy, note = score_lcb_rb(bench, str(rm), tmp_path / "eval")
    accuracy = accuracy.accuracy
    assert note == "RM input: problem + reasoning (model's pgrpo_rm.json)"
    scorer = RewardScorer(str(rm), max_length=256)
    raw = scorer.raw_scores([RMItem(r["problem"], r[side]) for r in rows
                             for side in ("chosen_reasoning", "rejected_reasoning")])
    expected = sum((c > r) + 0.5 * (c == r) for c, r in zip(raw[0::2], raw[1::2])) / len(rows)
    assert accuracy == pytest.approx(expected)
    scored = [json.loads(line) for line in (tmp_path / "eval" / "scores.jsonl").read_text().splitlines()]
    assert [s["chosen"] for s in scored] == pytest.approx(raw[0::2], abs=1e-5)


def test_a_stage_result_from_another_demo_version_is_refused(tmp_path):
    from pgrpo.errors import PgrpoError
    from pgrpo.toy.demo_config import DemoConfig
    from pgrpo.toy.stage import DEMO_VERSION, run_stage, stage_key

    calls = []
    key = stage_key(DemoConfig(str(tmp_path)))
    first = run_stage(tmp_path, "pairs", lambda stage_dir: calls.append(stage_dir) or {"count": 3}, key=key)
    assert first["demo_version"] == DEMO_VERSION == 4 and len(calls) == 1
    assert run_stage(tmp_path, "pairs", lambda stage_dir: calls.append(stage_dir) or {}, key=key)["count"] == 3
    assert len(calls) == 1  # reused, not rerun
    (tmp_path / "pairs" / "result.json").write_text(json.dumps({"count": 3}))  # an older demo's result
    with pytest.raises(PgrpoError, match=r"pairs/result.json: written by another version of pgrpo demo"):
        run_stage(tmp_path, "pairs", lambda stage_dir: {}, key=key)


def test_a_stage_result_with_other_settings_is_refused(tmp_path):
    from pgrpo.errors import PgrpoError
    from pgrpo.toy.demo_config import DemoConfig, quick_config
    from pgrpo.toy.stage import run_stage, stage_key

    calls = []
    trap = DemoConfig(str(tmp_path / "a"), jobs=1, seeds=(0,))
    run_stage(tmp_path, "policy", lambda stage_dir: calls.append(1) or {"n": 1}, key=stage_key(trap))
    # out_dir, jobs, seeds, progress do not define a stage: the same settings otherwise reuse it
    same = DemoConfig(str(tmp_path / "b"), jobs=2, seeds=(3, 4), progress=False)
    assert run_stage(tmp_path, "policy", lambda stage_dir: calls.append(2) or {}, key=stage_key(same))["n"] == 1
    assert calls == [1]
    with pytest.raises(PgrpoError, match=r"stage policy was run with other settings \(world differ\)"):
        run_stage(tmp_path, "policy", lambda stage_dir: {}, key=stage_key(DemoConfig(str(tmp_path), world="clean")))
    with pytest.raises(PgrpoError, match=r"eval_problems, .*quick, .*rl_steps.*sft differ"):
        run_stage(tmp_path, "policy", lambda stage_dir: {}, key=stage_key(quick_config(str(tmp_path))))
    with pytest.raises(PgrpoError, match=r"\(seed differ\)"):
        run_stage(tmp_path, "policy", lambda stage_dir: {}, key=stage_key(trap, seed=1))
    assert calls == [1]


def test_baseline_pairs_resize_by_seeded_permutations():
    from collections import Counter

    from pgrpo.toy.stages_rm import resize_pairs

    rows = list(range(7))
    assert resize_pairs(rows, 3) == resize_pairs(rows, 3) and len(set(resize_pairs(rows, 3))) == 3
    assert sorted(resize_pairs(rows, 7)) == rows  # one whole pass: a permutation
    resized = resize_pairs(rows, 17)  # two whole passes, then 3 distinct rows
    assert sorted(resized[:7]) == rows and sorted(resized[7:14]) == rows and len(set(resized[14:])) == 3
    assert sorted(Counter(resized).values()) == [2] * 4 + [3] * 3
    assert resized[14:] != [0, 1, 2] or resize_pairs(rows, 17, seed=1)[14:] != [0, 1, 2]  # not by position
    assert resize_pairs([], 5) == []


def test_rm_training_pairs_keep_a_seeded_share_of_coherence_pairs(tmp_path):
    from pgrpo.data.io import read_jsonl, write_jsonl
    from pgrpo.errors import PgrpoError
    from pgrpo.toy.demo import DemoConfig, rm_training_pairs

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
    with pytest.raises(PgrpoError, match="world"):
        DemoConfig("out", world="dirty")
