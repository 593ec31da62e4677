"""`pgrpo demo`: the paper's whole pipeline at toy scale, composed from pgrpo's own stages.

Owns `run_demo` and `shared_stages` (the stages every seed and mode share, also run once by the
study, pgrpo_toy.study), in this order:
  1. `policy`: the SFT policy (pgrpo_toy.sft, demos from the "sft" split, cached by settings
     hash) and its readouts on the evaluation split;
  2. `generator`: the benches' generator (a re-seeded SFT policy); per editor of the run
     (pgrpo_toy.editor: honest and blind in the weak world) `pairs-<editor>`: OD pairs on
     "rm_pairs" problems (the policy's own responses -> `PairsRun` with the toy backend as the
     strong LLM) and `reward_model-<editor>`: a Bradley-Terry RM; `bench`: a toy LCB-RB on the
     "bench" split and every RM's accuracy on it; `probe`: every RM's blind spot on "rm_select"
     sign-shortcut pairs; `comparison`: the OD vs score-based RMs on equal budgets
     (pgrpo_toy.comparison);
  3. RL in each arm with common random numbers per seed (pgrpo_toy.stages_rl);
  4. the report (pgrpo_toy.report).
Stages live in pgrpo_toy.stages_rm / stages_rl; settings in pgrpo_toy.demo_config. Every stage
writes `<stage>/result.json` when it finishes; a rerun skips finished stages, so an interrupted
demo resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pgrpo_toy.demo_config import MODES, DemoConfig, quick_config
from pgrpo_toy.stage import DEMO_VERSION, SharedStages, run_stage, say, stage_key
from pgrpo_toy.stages_rm import rm_training_pairs

T = TypeVar("T")

__all__ = ["DEMO_VERSION", "MODES", "DemoConfig", "SharedStages", "quick_config", "rm_training_pairs",
           "run_demo", "shared_stages", "with_threads"]


def shared_stages(out: Path, config: DemoConfig) -> SharedStages:
    from pgrpo_toy.comparison import stage_comparison
    from pgrpo_toy.stages_rm import (
        stage_bench,
        stage_generator,
        stage_pairs,
        stage_policy,
        stage_probe,
        stage_rm,
    )

    key = stage_key(config)
    rm_key = stage_key(config, rm_seed=config.seeds[0])  # train_rm seeds with the first seed
    policy = run_stage(out, "policy", stage_policy, config, key=key)
    generator = run_stage(out, "generator", stage_generator, config, key=key)
    pairs, rms = {}, {}
    for editor in config.editors:
        pairs[editor] = run_stage(out, f"pairs-{editor}", stage_pairs, config, policy["path"], editor, key=key)
        rms[editor] = run_stage(out, f"reward_model-{editor}", stage_rm, config, pairs[editor]["path"],
                                policy["path"], key=rm_key)
    rm_paths = {editor: rm["path"] for editor, rm in rms.items()}
    bench = run_stage(out, "bench", stage_bench, config, generator["path"], rm_paths, key=rm_key)
    probe = run_stage(out, "probe", stage_probe, config, rm_paths, key=rm_key)
    od_editor = "honest" if "honest" in pairs else config.editors[0]
    comparison = run_stage(out, "comparison", stage_comparison, config, policy["path"], generator["path"],
                           pairs[od_editor]["path"], bench["path"], key=rm_key) if config.baseline else None
    return SharedStages(policy, generator, pairs, rms, bench, probe, comparison)


def with_threads(fn: Callable[..., T], *args: Any) -> T:
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


def run_demo(config: DemoConfig) -> dict[str, Any]:
    """Run every stage (skipping finished ones) and write the report; returns report.json's content.

    With `config.jobs > 1` the RL stages run in spawned processes, so a script calling this must
    do so under `if __name__ == "__main__":` (as for any multiprocessing code)."""
    return with_threads(_run_stages, config)


def _run_stages(config: DemoConfig) -> dict[str, Any]:
    from pgrpo_toy.report import write_report
    from pgrpo_toy.stages_rl import rl_stages

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    shared = shared_stages(out, config)
    runs = rl_stages(out, config, shared.policy["path"], shared.rm_paths)
    report = write_report(out, config, shared, runs, round(time.monotonic() - started, 1))
    say(f"report: {out / 'report.md'}")
    return report
