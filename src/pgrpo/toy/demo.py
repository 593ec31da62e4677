"""`pgrpo demo`: the paper's whole pipeline at toy scale, composed from pgrpo's own stages.

Owns `DemoConfig` (default and `--quick` budgets), the stage functions and `run_demo`:
  1. SFT policy (pgrpo.toy.sft, cached by settings hash) and its held-out pass@1 / quality;
  2. OD pairs: the policy's own responses -> `pgrpo.rm.pairs.PairsRun` with the toy backend
     as the strong LLM; Bradley-Terry RM with `pgrpo.rm.train.train_reward_model` (the implicit
     head by default: see `DemoConfig.rm_head`); a toy
     LCB-RB with `pgrpo.bench.build.BenchBuild` (policy samples via the "hf" backend, sandbox,
     the exact oracle as judge) and the RM evaluated on it with `pgrpo.rm.evaluate`;
  3. RL with `pgrpo.train.runner.run_training` in each reward mode with the same seeds and
     budget, then held-out evaluation of each final policy;
  4. the report (pgrpo.toy.report).
Every stage writes `<stage>/result.json` when it finishes; a rerun skips finished stages, so
an interrupted demo resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pgrpo.data.io import write_jsonl, write_text_atomic
from pgrpo.sandbox.types import SandboxConfig
from pgrpo.toy.sft import HELDOUT_SEED, SFTConfig
from pgrpo.toy.world import TOY_PROMPT_STYLE, generate_problems

if TYPE_CHECKING:
    from pgrpo.rm.metrics import Accuracy
    from pgrpo.verify import Verifier

MODES = ("outcome", "additive", "posterior")
# Stamped into every stage's result.json; bump when the world or a stage's meaning changes, so a
# resumed run never mixes stages from two versions. 2: numbered statements, fixed tokenizer.
# 3: the RM is the implicit head; a larger toy LCB-RB.
DEMO_VERSION = 3
# World seeds of each problem pool (the SFT demonstrations use seeds >= pgrpo.toy.sft.TRAIN_SEED).
PAIRS_SEED, BENCH_SEED, RL_SEED = 2, 3, 4  # HELDOUT_SEED (1) lives in pgrpo.toy.sft
# Toy programs finish in microseconds: short limits keep a stuck sample from stalling a stage.
SANDBOX = SandboxConfig(workers=2, timeout_per_test_s=1.0, timeout_per_program_s=3.0)


def toy_verifier() -> Verifier:
    from pgrpo.verify import Verifier

    return Verifier(SANDBOX)


@dataclass(frozen=True)
class DemoConfig:
    out_dir: str
    quick: bool = False
    cache_dir: str | None = None
    seeds: tuple[int, ...] = (0,)
    modes: tuple[str, ...] = MODES
    sft: SFTConfig = field(default_factory=SFTConfig)
    heldout_problems: int = 64
    eval_samples: int = 8
    pair_problems: int = 1000
    # Share of coherence pairs the RM trains on. An aside is a surface feature the RM learns
    # from a few hundred pairs; the rest would crowd out the factual / logic pairs, which
    # need comparing each step with the statement (docs/demo.md, RM experiments).
    coherence_pair_fraction: float = 0.25
    bench_problems: int = 300
    bench_samples: int = 8
    # The implicit head (pgrpo.rm.implicit): the scalar head, which reads one vector at the last
    # token, reached at most 0.755 on the toy LCB-RB (docs/demo.md, RM experiments).
    rm_head: Literal["scalar", "implicit"] = "implicit"
    rm_beta: float = 1.0
    rm_epochs: float = 1.0
    rm_learning_rate: float = 1e-4
    rl_problems: int = 128
    rl_steps: int = 40
    rl_prompts_per_step: int = 4
    num_generations: int = 8
    rl_learning_rate: float = 3e-4
    thinking_weight: float = 1.0
    max_completion_length: int = 96
    jobs: int = 2  # RL runs in parallel (each is single-threaded: one per core)
    progress: bool = True

    def __post_init__(self) -> None:
        from pgrpo.errors import PgrpoError

        if not 0.0 <= self.coherence_pair_fraction <= 1.0:
            raise PgrpoError(f"coherence_pair_fraction: expected a share in [0, 1], got {self.coherence_pair_fraction}")
        if self.jobs < 1:
            raise PgrpoError(f"jobs: expected a positive integer, got {self.jobs}")


def quick_config(out_dir: str, **kwargs: Any) -> DemoConfig:
    """The CI budget: every stage runs, on a few problems and steps."""
    settings: dict[str, Any] = dict(quick=True, sft=SFTConfig(steps=100, demos=600), heldout_problems=16, eval_samples=2,
                                    pair_problems=24, bench_problems=12, bench_samples=6, rm_epochs=2.0,
                                    rl_problems=32, rl_steps=2, rl_prompts_per_step=2, num_generations=4)
    settings.update(kwargs)
    return DemoConfig(out_dir, **settings)


def say(message: str) -> None:
    print(f"pgrpo demo: {message}", file=sys.stderr, flush=True)


def _stage(out: Path, name: str, fn, *args) -> dict:
    """Run `fn(stage_dir, *args)` unless `<stage>/result.json` exists; return its result.
    A result written by another demo version is refused (its world or settings differ)."""
    from pgrpo.errors import PgrpoError

    stage_dir = out / name
    done = stage_dir / "result.json"
    if done.is_file():
        result = json.loads(done.read_text(encoding="utf-8"))
        if result.get("demo_version") != DEMO_VERSION:
            raise PgrpoError(f"{done}: written by another version of pgrpo demo (demo_version "
                             f"{result.get('demo_version')}, this is {DEMO_VERSION}); use a new --out directory")
        say(f"{name}: done in an earlier run, reusing {done}")
        return result
    stage_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"{name}: starting")
    result = fn(stage_dir, *args)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["demo_version"] = DEMO_VERSION
    write_text_atomic(done, json.dumps(result, indent=2))
    say(f"{name}: finished in {result['wall_seconds']} s")
    return result


def stage_policy(stage_dir: Path, config: DemoConfig) -> dict:
    from pgrpo.toy.evaluate import evaluate_policy
    from pgrpo.toy.sft import ensure_sft_policy

    policy, info = ensure_sft_policy(config.sft, config.cache_dir, config.progress)
    heldout = generate_problems(config.heldout_problems, HELDOUT_SEED, prefix="toy-heldout")
    with toy_verifier() as verifier:
        ev = evaluate_policy(str(policy), heldout, n=config.eval_samples, seed=0, verify=verifier)
    return {"path": str(policy), "sft": info, "eval": dataclasses.asdict(ev)}


def stage_pairs(stage_dir: Path, config: DemoConfig, policy: str) -> dict:
    from pgrpo.llm import CachedBackend
    from pgrpo.rm.pairs import PairsConfig, PairsRun
    from pgrpo.toy.backend import ToyBackend, write_initial
    from pgrpo.toy.evaluate import sample_responses

    problems = generate_problems(config.pair_problems, PAIRS_SEED, prefix="toy-pairs")
    own = sample_responses(policy, problems, 1, temperature=1.0, seed=1)
    write_initial(stage_dir / "policy_responses.jsonl", [(p.statement, r[0]) for p, r in zip(problems, own)])
    backend = CachedBackend(ToyBackend(initial=str(stage_dir / "policy_responses.jsonl")), stage_dir / "llm_cache")
    pairs_config = PairsConfig(prompt_style=TOY_PROMPT_STYLE, max_tokens=256, batch_problems=32)
    summary = PairsRun(problems, backend, stage_dir, pairs_config).run(progress=config.progress)
    backend.close()
    train_path, kept = _rm_training_pairs(stage_dir / "pairs.jsonl", config.coherence_pair_fraction)
    return {"count": summary.pairs, "problems": summary.problems, "status": summary.status_counts,
            "by_dimension": summary.pair_counts, "path": str(train_path), "train_count": kept}


def _rm_training_pairs(pairs_path: Path, coherence_fraction: float) -> tuple[Path, int]:
    """All factual / logic pairs and a seeded `coherence_fraction` of the coherence pairs, written
    next to pairs.jsonl (so the RM input metadata there still applies); returns (path, count)."""
    import random

    from pgrpo.data.io import read_jsonl

    rows = read_jsonl(pairs_path)
    if coherence_fraction >= 1.0:
        return pairs_path, len(rows)
    coherence = [i for i, r in enumerate(rows) if r.get("dimension") == "coherence"]
    keep = set(random.Random(f"coherence-pairs:{PAIRS_SEED}").sample(
        coherence, round(coherence_fraction * len(coherence))))
    kept = [r for i, r in enumerate(rows) if r.get("dimension") != "coherence" or i in keep]
    train_path = pairs_path.with_name("rm_train_pairs.jsonl")
    return train_path, write_jsonl(train_path, kept)


def stage_rm(stage_dir: Path, config: DemoConfig, pairs_path: str, policy: str) -> dict:
    from pgrpo.rm.config import DataSection, HeadSection, ModelSection, RMTrainConfig, TrainSection
    from pgrpo.rm.train import train_reward_model

    rm_config = RMTrainConfig(
        output_dir=str(stage_dir / "model"),
        # As in the paper, the RM starts from the policy (here the SFT policy).
        model=ModelSection(path=policy),
        head=HeadSection(kind=config.rm_head, beta=config.rm_beta, prompt_style=TOY_PROMPT_STYLE),
        data=DataSection(train=pairs_path, heldout_fraction=0.15),
        train=TrainSection(epochs=config.rm_epochs, learning_rate=config.rm_learning_rate, batch_size=16,
                           max_length=256, warmup_ratio=0.05, logging_steps=10, save_steps=100000,
                           eval_strategy="never", report_to=[], resume=False),
        seed=config.seeds[0])
    result = train_reward_model(rm_config)
    acc = result.heldout.overall.accuracy if result.heldout else None
    return {"path": rm_config.output_dir, "head": {"kind": config.rm_head, "beta": config.rm_beta},
            "heldout_accuracy": acc, "n_train": result.n_train, "n_heldout": result.n_heldout,
            "train_loss": result.train_loss}


def stage_bench(stage_dir: Path, config: DemoConfig, policy: str, rm_path: str) -> dict:
    from pgrpo.bench.build import BenchBuild, BenchConfig
    from pgrpo.llm import CachedBackend, make_backend
    from pgrpo.toy.backend import OracleJudge

    problems = generate_problems(config.bench_problems, BENCH_SEED, prefix="toy-bench")
    generator = CachedBackend(make_backend("hf", policy, device="cpu", dtype="float32", max_batch_size=64),
                              stage_dir / "llm_cache")
    bench_config = BenchConfig(samples=config.bench_samples, temperature=1.0, top_p=1.0,
                               max_tokens=config.max_completion_length, prompt_style=TOY_PROMPT_STYLE,
                               batch_problems=16, pairs_per_problem=2)
    with toy_verifier() as verifier:
        summary = BenchBuild(problems, generator, OracleJudge(), stage_dir, bench_config, verifier).run(
            progress=config.progress)
    generator.close()
    out = {"pairs": summary.pairs, "status": summary.status_counts, "lcb_rb_accuracy": None}
    if summary.pairs:
        accuracy, out["rm_input"] = score_lcb_rb(stage_dir / "lcb_rb.jsonl", rm_path, stage_dir / "rm_eval")
        out["lcb_rb_accuracy"] = accuracy.accuracy
        out["lcb_rb_ci95"] = [accuracy.ci_low, accuracy.ci_high]
    return out


def score_lcb_rb(bench_file: Path, rm_path: str, out_dir: Path) -> tuple[Accuracy, str]:
    """The RM's accuracy on an LCB-RB file, scored as `pgrpo rm eval` does: on the layout the
    RM was trained on (its pgrpo_rm.json; the toy pairs are reasoning-only, so each side's code
    is left out). Returns (the accuracy with its bootstrap 95% interval, the evaluator's note
    on the RM input)."""
    from pgrpo.rm.benchmarks import load_benchmark
    from pgrpo.rm.evaluate import (
        EvaluatorOptions,
        RewardModelEvaluator,
        build_evaluator,
        evaluate,
        write_outputs,
    )

    fmt, pairs = load_benchmark(bench_file)
    evaluator = build_evaluator("reward-model", EvaluatorOptions(model_path=rm_path, max_length=256))
    report, scores = evaluate(evaluator, pairs, fmt, "toy-lcb-rb")
    write_outputs(out_dir, report, pairs, scores)
    note = evaluator.input_note if isinstance(evaluator, RewardModelEvaluator) else ""
    return report.overall, note


def stage_rl(stage_dir: Path, config: DemoConfig, mode: str, seed: int, policy: str, rm_path: str) -> dict:
    from pgrpo.data.schema import problem_to_dict
    from pgrpo.toy.curves import step_curves
    from pgrpo.toy.evaluate import evaluate_policy
    from pgrpo.train.config import DataSection, LoggingSection, ModelSection, RewardSection, TrainConfig
    from pgrpo.train.runner import run_training

    problems = generate_problems(config.rl_problems, RL_SEED, prefix="toy-rl")
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
              "save_strategy": "no", "lr_scheduler_type": "constant", "warmup_steps": 0, "use_cpu": True,
              "gradient_accumulation_steps": 1, "dataloader_num_workers": 0},
        logging=LoggingSection(sample_every=1, num_samples=batch),
        resume="never",
    )
    started = time.monotonic()
    result = run_training(train_config)
    wall = round(time.monotonic() - started, 1)
    heldout = generate_problems(config.heldout_problems, HELDOUT_SEED, prefix="toy-heldout")
    with toy_verifier() as verifier:
        ev = evaluate_policy(str(result.final_model_dir), heldout, n=config.eval_samples, seed=seed,
                             verify=verifier)
    curves = step_curves(result.samples_path, problems, rm_path)
    return {"mode": mode, "seed": seed, "steps": result.global_step, "train_wall_seconds": wall,
            "eval": dataclasses.asdict(ev), "curves": curves}


def _rl_stage_in_process(out: str, name: str, config: DemoConfig, mode: str, seed: int, policy: str,
                         rm_path: str) -> dict:
    import torch

    torch.set_num_threads(1)
    return _stage(Path(out), name, stage_rl, config, mode, seed, policy, rm_path)


def _rl_stages(out: Path, config: DemoConfig, policy: str, rm_path: str) -> list[dict]:
    """Every (seed, mode) RL stage, `config.jobs` at a time in spawned processes (each run is
    single-threaded, so on 2 cores two runs take the time of one). Results keep the (seed, mode)
    order. Finished stages are read here; a run that fails or dies raises a PgrpoError naming its
    stage once the others have finished (their results are saved: rerun to resume)."""
    from pgrpo.errors import PgrpoError

    todo = [(f"rl/{mode}-seed{seed}", mode, seed) for seed in config.seeds for mode in config.modes]
    pending = [t for t in todo if not (out / t[0] / "result.json").is_file()]
    if config.jobs <= 1 or len(pending) <= 1:
        return [_stage(out, name, stage_rl, config, mode, seed, policy, rm_path) for name, mode, seed in todo]
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
    return [done[name] if name in done else _stage(out, name, stage_rl, config, mode, seed, policy, rm_path)
            for name, mode, seed in todo]


def run_demo(config: DemoConfig) -> dict:
    """Run every stage (skipping finished ones) and write the report; returns report.json's content.

    With `config.jobs > 1` the RL stages run in spawned processes, so a script calling this must
    do so under `if __name__ == "__main__":` (as for any multiprocessing code)."""
    import torch

    # The stages before RL run one at a time and use every core this process may run on
    # (measured: 60 SFT steps take 15.6 s with 2 threads, 24.2 s with 1); parallel RL runs
    # take one thread each. The caller's setting is restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        return _run_stages(config)
    finally:
        torch.set_num_threads(threads)


def _run_stages(config: DemoConfig) -> dict:
    from pgrpo.toy.report import write_report

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    policy = _stage(out, "policy", stage_policy, config)
    pairs = _stage(out, "pairs", stage_pairs, config, policy["path"])
    rm = _stage(out, "reward_model", stage_rm, config, pairs["path"], policy["path"])
    bench = _stage(out, "bench", stage_bench, config, policy["path"], rm["path"])
    runs = _rl_stages(out, config, policy["path"], rm["path"])
    report = write_report(out, config, policy, pairs, rm, bench, runs, round(time.monotonic() - started, 1))
    say(f"report: {out / 'report.md'}")
    return report
