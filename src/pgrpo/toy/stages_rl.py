"""The demo's RL stages: one GRPO run per (seed, mode), its final evaluation and readouts.

Owns `stage_rl` (train on the "rl_train" split with `pgrpo.train.runner.run_training`, evaluate
the final policy on the evaluation split, read the per-step curves and the final readouts) and
`rl_stages` (every (seed, mode) run, `config.jobs` at a time in spawned processes).

Common random numbers per seed: every mode of a seed starts from the same SFT policy, trains on
the same problems in the same prompt order (TRL's RepeatSampler is seeded with the run's seed)
and is evaluated on the same problems with the same sampling seed; `samples.jsonl` and
`eval_samples.jsonl` in each run directory record both (tests/toy/test_toy_demo.py checks them).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

from pgrpo.data.io import write_jsonl
from pgrpo.toy.demo_config import DemoConfig
from pgrpo.toy.stage import SANDBOX, run_stage, say, stage_key, toy_verifier
from pgrpo.toy.world import TOY_PROMPT_STYLE


def stage_rl(stage_dir: Path, config: DemoConfig, mode: str, seed: int, policy: str, rm_path: str) -> dict:
    from pgrpo.data.schema import problem_to_dict
    from pgrpo.toy.curves import step_curves
    from pgrpo.toy.evaluate import evaluate_samples
    from pgrpo.toy.readouts import records_of, rm_scores, summarize
    from pgrpo.toy.stages_rm import eval_problems, rl_problems, splits_of, write_eval_samples
    from pgrpo.train.config import DataSection, LoggingSection, ModelSection, RewardSection, TrainConfig
    from pgrpo.train.runner import run_training

    problems = rl_problems(config)
    data_path = stage_dir / "problems.jsonl"
    write_jsonl(data_path, [problem_to_dict(p) for p in problems])
    batch = config.rl_prompts_per_step * config.num_generations
    train_config = TrainConfig(
        output_dir=str(stage_dir / "train"),
        model=ModelSection(path=policy, dtype="float32"),
        data=DataSection(source=str(data_path), prompt_style=TOY_PROMPT_STYLE),
        reward=RewardSection(mode=mode, thinking_weight=config.thinking_weight,
                             rm_path=rm_path if mode != "outcome" else None, rm_max_length=256),
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
    with toy_verifier() as verifier:
        ev, judged = evaluate_samples(str(result.final_model_dir), test, n=config.eval_samples, seed=seed,
                                      verify=verifier)
    write_eval_samples(stage_dir / "eval_samples.jsonl", judged, seed)
    # Every mode's eval samples are scored by the same RM: R_t on failing samples for outcome runs too.
    reasonings = [j.reasoning for j in judged]
    rts = rm_scores(rm_path, [j.problem.statement for j in judged], reasonings)
    readouts = summarize(records_of([j.problem for j in judged], reasonings, [j.passed for j in judged], rts))
    curves = step_curves(result.samples_path, problems, rm_path)
    checkpoints = {}
    for step in config.eval_checkpoints:  # same problems and sampling seed as the final evaluation
        with toy_verifier() as verifier:
            checkpoints[step] = evaluate_samples(str(stage_dir / "train" / f"checkpoint-{step}"), test,
                                                 n=config.eval_samples, seed=seed, verify=verifier)[0].pass_at_1
    return {"mode": mode, "seed": seed, "steps": result.global_step, "train_wall_seconds": wall,
            "eval_split": config.eval_split, "eval": dataclasses.asdict(ev), "readouts": readouts.as_dict(),
            "checkpoint_pass_at_1": checkpoints, "curves": curves}


def _checkpointing(steps: tuple[int, ...]) -> dict:
    """TRL settings that save a model at every step in `steps` (and none without)."""
    if not steps:
        return {"save_strategy": "no"}
    return {"save_strategy": "steps", "save_steps": math.gcd(*steps), "save_only_model": True}


def _rl_stage_in_process(out: str, name: str, config: DemoConfig, mode: str, seed: int, policy: str,
                         rm_path: str) -> dict:
    """One RL stage with torch on one thread (the caller's setting is restored afterwards), in a
    pool worker or in the main process alike, so a run's numerics never depend on where it ran."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_stage(Path(out), name, stage_rl, config, mode, seed, policy, rm_path,
                         key=stage_key(config, mode=mode, seed=seed))
    finally:
        torch.set_num_threads(threads)


def rl_stage_name(mode: str, seed: int) -> str:
    return f"rl/{mode}-seed{seed}"


def rl_stages(out: Path, config: DemoConfig, policy: str, rm_path: str) -> list[dict]:
    """Every (seed, mode) RL stage, `config.jobs` at a time in spawned processes (each run is
    single-threaded, so on 2 cores two runs take the time of one). Results keep the (seed, mode)
    order. Finished stages are read here; a run that fails or dies raises a PgrpoError naming its
    stage once the others have finished (their results are saved: rerun to resume)."""
    from pgrpo.errors import PgrpoError

    todo = [(rl_stage_name(mode, seed), mode, seed) for seed in config.seeds for mode in config.modes]
    pending = [t for t in todo if not (out / t[0] / "result.json").is_file()]
    if config.jobs <= 1 or len(pending) <= 1:
        return [_rl_stage_in_process(str(out), name, config, mode, seed, policy, rm_path) for name, mode, seed in todo]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    quiet = dataclasses.replace(config, progress=False)  # parallel progress bars would interleave
    say(f"RL: {len(pending)} runs, {config.jobs} at a time")
    pool = ProcessPoolExecutor(max_workers=config.jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {name: pool.submit(_rl_stage_in_process, str(out), name, quiet, mode, seed, policy, rm_path)
                   for name, mode, seed in pending}
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
    return [done[name] if name in done else _rl_stage_in_process(str(out), name, config, mode, seed, policy, rm_path)
            for name, mode, seed in todo]
