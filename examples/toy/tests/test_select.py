"""`pgrpo demo --select` without training: the stage functions are replaced by canned results, so
the test checks which splits the sweep reads, how it breaks ties and what its report says."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pgrpo_toy.demo_config import DemoConfig, quick_config
from pgrpo_toy.select import SELECTION_SEED, SelectionGrid

# rm_select LCB-RB accuracy per RM candidate (grid order): candidates 2 and 4 tie at the top
RM_ACCURACY = [0.70, 0.80, 0.75, 0.80, 0.60]
# rl_select pass@1 per (learning rate, steps), the same in every mode: (1e-4, 40) and (3e-4, 20) tie
RL_PASS = {(1e-4, 20): 0.30, (1e-4, 40): 0.50, (3e-4, 20): 0.50, (3e-4, 40): 0.45, (1e-3, 20): 0.20, (1e-3, 40): 0.10}


@pytest.fixture
def canned(monkeypatch):
    """run_selection with canned stages; records the config each stage was called with."""
    import pgrpo_toy.select as select
    import pgrpo_toy.stages_rl as stages_rl
    import pgrpo_toy.stages_rm as stages_rm

    calls: dict[str, list] = {"policy": [], "generator": [], "pairs": [], "bench": [], "rm": [], "rl": []}

    def fake_policy(stage_dir, config):
        calls["policy"].append(config)
        return {"path": "policy"}

    def fake_generator(stage_dir, config):
        calls["generator"].append(config)
        return {"path": "generator"}

    def fake_pairs(stage_dir, config, policy, editor):
        calls["pairs"].append((config, editor))
        return {"path_all": "pairs.jsonl"}

    def fake_bench(stage_dir, config, generator, rm_paths):
        calls["bench"].append((config, generator, rm_paths))
        return {"path": "lcb_rb.jsonl", "pairs": 20, "problems": 60}

    def fake_rm(stage_dir, config, candidate, pairs_path, policy, bench_file):
        calls["rm"].append((config, candidate, bench_file))
        accuracy = RM_ACCURACY[SelectionGrid().rm.index(candidate)]
        return {"candidate": dataclasses.asdict(candidate), "train_pairs": 10,
                "rm": {"path": f"rm-{candidate.name}", "heldout_accuracy": 0.9},
                "rm_select_lcb_rb_accuracy": accuracy, "ci95": [accuracy - 0.1, accuracy + 0.1], "pairs": 20}

    def fake_rl(out, config, policy, rm_paths):
        calls["rl"].append((config, rm_paths))
        lr, last = config.rl_learning_rate, config.rl_steps
        return [{"arm": arm.name, "mode": arm.mode, "seed": seed, "eval": {"pass_at_1": RL_PASS.get((lr, last), 0.0)},
                 "checkpoint_pass_at_1": {str(k): RL_PASS.get((lr, k), 0.0) for k in config.eval_checkpoints}}
                for seed in config.seeds for arm in config.rl_arms]

    monkeypatch.setattr(stages_rm, "stage_policy", fake_policy)
    monkeypatch.setattr(stages_rm, "stage_generator", fake_generator)
    monkeypatch.setattr(stages_rm, "stage_pairs", fake_pairs)
    monkeypatch.setattr(stages_rm, "stage_bench", fake_bench)
    monkeypatch.setattr(select, "_rm_stage", fake_rm)
    monkeypatch.setattr(stages_rl, "rl_stages", fake_rl)
    return calls


def test_selection_reads_only_selection_splits_and_breaks_ties_early(tmp_path, canned):
    from pgrpo_toy.select import run_selection

    report = run_selection(DemoConfig(str(tmp_path), jobs=1))
    configs = canned["policy"] + canned["generator"] + [c for c, _ in canned["pairs"]] \
        + [c for c, _, _ in canned["bench"]] + [c for c, _, _ in canned["rm"]] + [c for c, _ in canned["rl"]]
    assert configs and all(c.evaluate_on == "selection" for c in configs)
    assert {c.eval_split for c in configs} == {"rl_select"} and {c.bench_split for c in configs} == {"rm_select"}
    assert all(c.seeds == (SELECTION_SEED,) and not c.baseline for c in configs)
    # the sweep tunes the world's default editor's RM (the blind one in the weak world) on the three modes
    assert [e for _, e in canned["pairs"]] == ["blind"]
    assert all(c.arm_names == ("outcome", "additive", "posterior") for c, _ in canned["rl"])
    # the rm_select LCB-RB is built once, by the generator, without an RM
    assert [(g, rm) for _, g, rm in canned["bench"]] == [("generator", {})]
    assert len(canned["rm"]) == 5 and {b for _, _, b in canned["rm"]} == {"lcb_rb.jsonl"}
    # RM: 0.80 twice; the earlier candidate (implicit, beta 1, coherence 0.25) wins
    assert report["chosen_rm"] == {"head": "implicit", "beta": 1.0, "coherence_pair_fraction": 0.25}
    assert [c["accuracy"] for c in report["rm_candidates"]] == RM_ACCURACY
    # RL: every learning rate trains with the chosen RM, 40 steps, a checkpoint at 20
    assert [(c.rl_learning_rate, c.rl_steps, c.eval_checkpoints, c.rm_beta) for c, _ in canned["rl"]] == [
        (lr, 40, (20,), 1.0) for lr in (1e-4, 3e-4, 1e-3)]
    assert all(rm == {"blind": "rm-implicit-beta1-coh0.25"} for _, rm in canned["rl"])
    # 0.50 at (1e-4, 40) and at (3e-4, 20): the earlier row wins
    assert report["chosen_rl"] == {"learning_rate": 1e-4, "steps": 40}
    assert [(r["learning_rate"], r["steps"], r["mean_pass_at_1"]) for r in report["rl_grid"]] == [
        (lr, steps, RL_PASS[(lr, steps)]) for lr in (1e-4, 3e-4, 1e-3) for steps in (20, 40)]
    on_disk = json.loads((tmp_path / "selection.json").read_text())
    assert on_disk["chosen_rl"] == report["chosen_rl"] and on_disk["splits"]["rl"] == "rl_select (pass@1)"
    assert "Chosen: {'learning_rate': 0.0001, 'steps': 40}." in (tmp_path / "selection.md").read_text()


def test_quick_selection_keeps_the_quick_rl_budget(tmp_path, canned):
    from pgrpo_toy.select import QUICK_RL_STEPS, run_selection

    report = run_selection(quick_config(str(tmp_path), jobs=1))
    assert {(c.rl_steps, c.eval_checkpoints) for c, _ in canned["rl"]} == {(QUICK_RL_STEPS[-1], QUICK_RL_STEPS[:-1])}
    assert {r["steps"] for r in report["rl_grid"]} == set(QUICK_RL_STEPS)


def test_a_missing_checkpoint_is_a_clear_error():
    from pgrpo.errors import PgrpoError
    from pgrpo_toy.select import _rl_table

    runs = [{"learning_rate": lr, "mode": "outcome", "pass_at_1_by_step": {"40": 0.5}} for lr in (1e-4, 3e-4, 1e-3)]
    with pytest.raises(PgrpoError, match=r"no pass@1 at step 20 for learning rate 0.0001, mode\(s\) \['outcome'\]"):
        _rl_table(runs, SelectionGrid())


def test_select_refuses_rl_steps(tmp_path, capsys):
    from pgrpo.cli import main

    assert main(["demo", "--select", "--rl-steps", "3", "--out", str(tmp_path)]) == 2
    assert "the RL step counts are the selection grid's" in capsys.readouterr().err
