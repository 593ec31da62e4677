"""The demo's RL stages: one GRPO run per (seed, arm), its final evaluation and readouts.

Owns `stage_rl` (train on the "rl_train" split with `pgrpo.train.runner.run_training`, with the
training tests and the arm's reward mode and RM; evaluate the final policy on the evaluation
split with the strong tests, and the weak ones in the weak world; score every sample with every
trained RM; read the per-step curves and the final readouts) and `rl_stages` (every (seed, arm)
run, `config.jobs` at a time in spawned processes).

Common random numbers per seed: every arm of a seed starts from the same SFT policy, trains on
the same problems in the same prompt order (TRL's RepeatSampler is seeded with the run's seed)
and is evaluated on the same problems with the same sampling seed; `samples.jsonl` and
`eval_samples.jsonl` in each run directory record both (examples/toy/tests/test_toy_demo.py checks them).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

from pgrpo.data import write_jsonl
from pgrpo_toy.demo_config import ARMS, Arm, DemoConfig
from pgrpo_toy.evaluate import evaluate_samples
from pgrpo_toy.stage import SANDBOX, run_stage, say, stage_key, toy_verifier
from pgrpo_toy.world import TOY_PROMPT_STYLE


def stage_rl(stage_dir: Path, config: DemoConfig, arm: Arm, seed: int, policy: str, rm_paths: dict[str, str]) -> dict[str, Any]:
    from pgrpo.data import problem_to_dict
    from pgrpo.train import (
        DataSection,
        LoggingSection,
        ModelSection,
        RewardSection,
        TrainConfig,
        run_training,
    )
    from pgrpo_toy.curves import step_curves
    from pgrpo_toy.stages_rm import eval_problems, rl_problems, splits_of

    problems = rl_problems(config)
    data_path = stage_dir / "problems.jsonl"
    write_jsonl(data_path, [problem_to_dict(p) for p in problems])
    batch = config.rl_prompts_per_step * config.num_generations
    editor = arm.rm_editor(config.world)
    train_config = TrainConfig(
        output_dir=str(stage_dir / "train"),
        model=ModelSection(path=policy, dtype="float32"),
        data=DataSection(source=str(data_path), prompt_style=TOY_PROMPT_STYLE),
        reward=RewardSection(mode=arm.mode, thinking_weight=config.thinking_weight,
                             rm_path=rm_paths[editor] if editor else None, rm_max_length=256),
        sandbox=SANDBOX,
        grpo={"max_steps": config.rl_steps, "per_device_train_batch_size": batch,
              "num_generations": config.num_generations, "learning_rate": config.rl_learning_rate,
              "max_completion_length": config.max_completion_length, "seed": seed, "report_to": [],
              **_checkpointing(config.eval_checkpoints), "lr_scheduler_type": "constant", "warmup_steps": 0, "use_cpu": True,
              "gradient_accumulation_steps": 1, "dataloader_num_workers": 0},
        logging=LoggingSection(sample_every=1, num_samples=batch),
        resume="never",
    )
    started = time.monotonic()
    result = run_training(train_config)
    wall = round(time.monotonic() - started, 1)
    test = eval_problems(config, splits_of(config))
    final = evaluate_final(stage_dir, config, str(result.final_model_dir), test, seed, rm_paths, editor)
    curve_editor = editor or config.editors[0]  # outcome runs: R_t of the first editor's RM (honest in "weak")
    with toy_verifier() as verifier:
        curves = step_curves(result.samples_path, problems, rm_paths.get(curve_editor), verifier)
    checkpoints = {}
    for step in config.eval_checkpoints:  # same problems and sampling seed as the final evaluation
        with toy_verifier() as verifier:
            checkpoints[step] = evaluate_samples(str(stage_dir / "train" / f"checkpoint-{step}"), test,
                                                 n=config.eval_samples, seed=seed, verify=verifier)[0].pass_at_1
    return {"arm": arm.name, "mode": arm.mode, "rm_editor": editor, "seed": seed, "steps": result.global_step,
            "train_wall_seconds": wall, "eval_split": config.eval_split, **final,
            "checkpoint_pass_at_1": checkpoints, "curves": curves, "curves_rm_editor": curve_editor}


def evaluate_final(stage_dir: Path, config: DemoConfig, model_dir: str, test: list[Any], seed: int,
                   rm_paths: dict[str, str], editor: str | None) -> dict[str, Any]:
    """The final policy's evaluation: samples judged with the strong tests (and the weak ones in the
    weak world), every RM's R_t, the readouts under the arm's RM (outcome: each RM's), per-task
    strong pass rates."""
    from pgrpo_toy.readouts import per_task_pass, records_of, rm_scores, summarize
    from pgrpo_toy.stages_rm import weak_verdicts, write_eval_samples

    with toy_verifier() as verifier:
        ev, judged = evaluate_samples(model_dir, test, n=config.eval_samples, seed=seed, verify=verifier)
        weak = weak_verdicts(config, judged, verifier)
    write_eval_samples(stage_dir / "eval_samples.jsonl", judged, seed, weak)
    problems, reasonings = [j.problem for j in judged], [j.reasoning for j in judged]
    passed = [j.passed for j in judged]
    by_rm = {}
    for name, rm_path in rm_paths.items():  # every arm's samples scored by every RM
        rts = rm_scores(rm_path, [p.statement for p in problems], reasonings)
        by_rm[name] = summarize(records_of(problems, reasonings, passed, rts, weak)).as_dict()
    # The arm's RM; outcome runs: the first editor's (the honest one in the weak world), as the curves.
    main = by_rm[editor or config.editors[0]]
    return {"eval": dataclasses.asdict(ev), "readouts": main, "readouts_by_rm": by_rm,
            "per_task_pass": per_task_pass(records_of(problems, reasonings, passed))}


def _checkpointing(steps: tuple[int, ...]) -> dict[str, Any]:
    """TRL settings that save a model at every step in `steps` (and none without)."""
    if not steps:
        return {"save_strategy": "no"}
    return {"save_strategy": "steps", "save_steps": math.gcd(*steps), "save_only_model": True}


def _rl_stage_in_process(out: str, name: str, config: DemoConfig, arm: str, seed: int, policy: str,
                         rm_paths: dict[str, str]) -> dict[str, Any]:
    """One RL stage with torch on one thread (the caller's setting is restored afterwards), in a
    pool worker or in the main process alike, so a run's numerics never depend on where it ran."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_stage(Path(out), name, stage_rl, config, ARMS[arm], seed, policy, rm_paths,
                         key=stage_key(config, arm=arm, seed=seed))
    finally:
        torch.set_num_threads(threads)


def _die_with_parent() -> None:
    """A pool worker ends when the demo process dies (Linux: PR_SET_PDEATHSIG): a killed demo must
    not leave RL runs writing into its --out (a rerun there would meet their half-written stages)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def rl_stage_name(arm: str, seed: int) -> str:
    return f"rl/{arm}-seed{seed}"


def rl_stages(out: Path, config: DemoConfig, policy: str, rm_paths: dict[str, str]) -> list[dict[str, Any]]:
    """Every (seed, arm) RL stage, `config.jobs` at a time in spawned processes (each run is
    single-threaded, so on 2 cores two runs take the time of one). Results keep the (seed, arm)
    order. Finished stages are read here; a run that fails or dies raises a PgrpoError naming its
    stage once the others have finished (their results are saved: rerun to resume)."""
    from pgrpo.errors import PgrpoError

    todo = [(rl_stage_name(arm, seed), arm, seed) for seed in config.seeds for arm in config.arm_names]
    pending = [t for t in todo if not (out / t[0] / "result.json").is_file()]
    if config.jobs <= 1 or len(pending) <= 1:
        return [_rl_stage_in_process(str(out), name, config, arm, seed, policy, rm_paths) for name, arm, seed in todo]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    quiet = dataclasses.replace(config, progress=False)  # parallel progress bars would interleave
    say(f"RL: {len(pending)} runs, {config.jobs} at a time")
    pool = ProcessPoolExecutor(max_workers=config.jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent)
    try:
        futures = {name: pool.submit(_rl_stage_in_process, str(out), name, quiet, arm, seed, policy, rm_paths)
                   for name, arm, seed in pending}
        failed, done = [], {}
        for name, future in futures.items():
            try:
                done[name] = future.result()
            except Exception as exc:  # noqa: BLE001 - named below; the other runs keep their results
                failed.append(f"{name}: {type(exc).__name__}: {exc}")
    except BaseException:  # Ctrl-C: queued runs must not start after it
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failed:
        raise PgrpoError("RL stages failed (finished ones are saved; rerun to resume): " + "; ".join(failed))
    return [done[name] if name in done else _rl_stage_in_process(str(out), name, config, arm, seed, policy, rm_paths)
            for name, arm, seed in todo]
