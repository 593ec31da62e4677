"""`pgrpo demo --quick` end to end: every stage runs and the report has its keys and plots."""

from __future__ import annotations

import json

import pytest

from pgrpo.cli import main


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--modes", "outcome,bogus"]) == 2
    assert "--modes" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--seeds", "a,b"]) == 2


def test_sft_demonstrations_are_noisy_mix():
    from pgrpo.toy.sft import SFTConfig, demonstrations

    demos = demonstrations(SFTConfig(demos=300))
    kinds = {k: sum(d.kind == k for d in demos) for k in ("canonical", "flawed_right_code", "wrong_code")}
    assert all(n > 20 for n in kinds.values()), kinds
    assert SFTConfig(steps=1).key() != SFTConfig(steps=2).key()


def test_sft_demonstrations_never_contain_heldout_tasks():
    from pgrpo.toy.sft import HELDOUT_SEED, SFTConfig, demonstrations
    from pgrpo.toy.world import generate_tasks

    heldout = {t.steps for t in generate_tasks(64, HELDOUT_SEED)}
    demos = demonstrations(SFTConfig(demos=1500))
    assert len(demos) == 1500
    assert not heldout & {d.task.steps for d in demos}
    # without the exclusion, the same pool does overlap (the task space is small)
    pool = {t.steps for t in generate_tasks(1500, 1000)}
    assert heldout & pool


def test_generate_tasks_fails_cleanly_beyond_task_space():
    from pgrpo.toy.world import generate_tasks

    with pytest.raises(ValueError, match="distinct"):
        generate_tasks(20, 0, min_steps=1, max_steps=1)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "run"
    assert main(["demo", "--quick", "--quiet", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    report = json.loads((out / "report.json").read_text())
    assert isinstance(report["policy"]["sft_pass_at_1"], float)
    assert report["pairs"]["count"] > 0
    coherence = sum(report["pairs"]["by_dimension"]["coherence"].values())
    assert coherence > 0  # the RM trains on every other pair and a quarter of these
    assert report["pairs"]["rm_train_count"] == report["pairs"]["count"] - coherence + round(0.25 * coherence)
    assert "heldout_accuracy" in report["reward_model"] and "lcb_rb_accuracy" in report["reward_model"]
    assert set(report["rl"]) == {"outcome", "additive", "posterior"}
    for mode, r in report["rl"].items():
        for key in ("pass_at_1", "reasoning_quality", "mean_thinking_reward", "steps", "wall_seconds"):
            assert key in r, (mode, key)
        assert r["steps"] >= 1
    for name in report["plots"]:
        assert (out / name).stat().st_size > 1000
    markdown = (out / "report.md").read_text()
    assert "| posterior |" in markdown
    assert f"RM input pairs: {report['pairs']['rm_train_count']} " in markdown
    # a rerun resumes: every stage is reused, and the cached policy is not retrained
    assert main(["demo", "--quick", "--quiet", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["rl"]["posterior"]["pass_at_1"] == report["rl"]["posterior"]["pass_at_1"]


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
    from pgrpo.toy.demo import DEMO_VERSION, _stage

    calls = []
    first = _stage(tmp_path, "pairs", lambda stage_dir: calls.append(stage_dir) or {"count": 3})
    assert first["demo_version"] == DEMO_VERSION and len(calls) == 1
    assert _stage(tmp_path, "pairs", lambda stage_dir: calls.append(stage_dir) or {})["count"] == 3
    assert len(calls) == 1  # reused, not rerun
    (tmp_path / "pairs" / "result.json").write_text(json.dumps({"count": 3}))  # an older demo's result
    with pytest.raises(PgrpoError, match=r"pairs/result.json: written by another version of pgrpo demo"):
        _stage(tmp_path, "pairs", lambda stage_dir: {})


def test_rm_training_pairs_keep_a_seeded_share_of_coherence_pairs(tmp_path):
    from pgrpo.data.io import read_jsonl, write_jsonl
    from pgrpo.errors import PgrpoError
    from pgrpo.toy.demo import DemoConfig, _rm_training_pairs

    rows = [{"prompt": f"p{i}", "chosen": "a", "rejected": "b", "dimension": dim}
            for i, dim in enumerate(["coherence"] * 8 + ["factual"] * 3 + ["logic"] * 2)]
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    path, count = _rm_training_pairs(tmp_path / "pairs.jsonl", 0.25)
    kept = read_jsonl(path)
    assert count == len(kept) == 3 + 2 + 2
    assert sum(r["dimension"] == "coherence" for r in kept) == 2
    assert read_jsonl(_rm_training_pairs(tmp_path / "pairs.jsonl", 0.25)[0]) == kept  # seeded
    assert _rm_training_pairs(tmp_path / "pairs.jsonl", 1.0) == (tmp_path / "pairs.jsonl", 13)
    with pytest.raises(PgrpoError, match="coherence_pair_fraction"):
        DemoConfig("out", coherence_pair_fraction=1.5)
