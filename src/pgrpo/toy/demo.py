"""`pgrpo demo`: the paper's whole pipeline at toy scale, composed from pgrpo's own stages.

Owns `run_demo` and `shared_stages` (the stages every seed and mode share, also run once by the
study, pgrpo.toy.study), in this order:
  1. `policy`: the SFT policy (pgrpo.toy.sft, demos from the "sft" split, cached by settings
     hash) and its readouts on the evaluation split;
  2. `pairs`: OD pairs on "rm_pairs" problems (the policy's own responses -> `PairsRun` with the
     toy backend as the strong LLM, in the run's world); `reward_model`: a Bradley-Terry RM;
     `bench`: a toy LCB-RB on the "bench" split and the RM's accuracy on it; `probe`: the RM's
     blind spot on "rm_select" sign-shortcut pairs; `baseline`: the score-based RM (pairs
     labelled by test outcome only, same budget) on the same LCB-RB;
  3. RL in each reward mode with common random numbers per seed (pgrpo.toy.stages_rl);
  4. the report (pgrpo.toy.report).
Stages live in pgrpo.toy.stages_rm / stages_rl; settings in pgrpo.toy.demo_config. Every stage
writes `<stage>/result.json` when it finishes; a rerun skips finished stages, so an interrupted
demo resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pgrpo.toy.demo_config import MODES, DemoConfig, quick_config
from pgrpo.toy.stage import DEMO_VERSION, SharedStages, run_stage, say, stage_key
from pgrpo.toy.stages_rm import rm_training_pairs, score_lcb_rb

__all__ = ["DEMO_VERSION", "MODES", "DemoConfig", "SharedStages", "quick_config", "rm_training_pairs",
           "run_demo", "score_lcb_rb", "shared_stages", "with_threads"]


def shared_stages(out: Path, config: DemoConfig) -> SharedStages:
    from pgrpo.toy.stages_rm import (
        stage_baseline,
        stage_bench,
        stage_pairs,
        stage_policy,
        stage_probe,
        stage_rm,
    )

    key = stage_key(config)
    rm_key = stage_key(config, rm_seed=config.seeds[0])  # train_rm seeds with the first seed
    policy = run_stage(out, "policy", stage_policy, config, key=key)
    pairs = run_stage(out, "pairs", stage_pairs, config, policy["path"], key=key)
    rm = run_stage(out, "reward_model", stage_rm, config, pairs["path"], policy["path"], key=rm_key)
    bench = run_stage(out, "bench", stage_bench, config, policy["path"], rm["path"], key=rm_key)
    probe = run_stage(out, "probe", stage_probe, config, rm["path"], key=rm_key)
    baseline = run_stage(out, "baseline", stage_baseline, config, policy["path"], pairs["train_count"],
                         bench["path"], key=rm_key) if config.baseline else None
    return SharedStages(policy, pairs, rm, bench, probe, baseline)


def with_threads(fn, *args):
    """Call `fn(*args)` with torch using every core this process may run on (the stages before
    RL run one at a time: 60 SFT steps took 15.6 s with 2 threads, 24.2 s with 1; parallel RL
    runs take one thread each). The caller's setting is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(threads)


def run_demo(config: DemoConfig) -> dict:
    """Run every stage (skipping finished ones) and write the report; returns report.json's content.

    With `config.jobs > 1` the RL stages run in spawned processes, so a script calling this must
    do so under `if __name__ == "__main__":` (as for any multiprocessing code)."""
    return with_threads(_run_stages, config)


def _run_stages(config: DemoConfig) -> dict:
    from pgrpo.toy.report import write_report
    from pgrpo.toy.stages_rl import rl_stages

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    shared = shared_stages(out, config)
    runs = rl_stages(out, config, shared.policy["path"], shared.rm["path"])
    report = write_report(out, config, shared, runs, round(time.monotonic() - started, 1))
    say(f"report: {out / 'report.md'}")
    return report
