"""The demo's stages up to the reward model, and every stage's problem pool: SFT policy, OD pairs, RM, toy LCB-RB, blind-spot
probe and the score-based RM baseline. Each is `stage_x(stage_dir, config, ...) -> dict` (run by
pgrpo.toy.stage.run_stage, which saves the dict as the stage's result.json).

Every problem pool comes from the splits by task identity (pgrpo.toy.splits): SFT demos from
"sft" (inside pgrpo.toy.sft), OD pairs and the baseline's pairs from "rm_pairs", the probe from
"rm_select", the toy LCB-RB from "bench" (or "rm_select" when `evaluate_on="selection"`), the
policy's evaluation from "test" (or "rl_select").
"""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING

from pgrpo.data.io import read_jsonl, write_jsonl
from pgrpo.toy.demo_config import DemoConfig
from pgrpo.toy.stage import toy_verifier
from pgrpo.toy.world import TOY_PROMPT_STYLE, ToyTask

if TYPE_CHECKING:
    from pgrpo.data.problem import Problem
    from pgrpo.rm.metrics import Accuracy
    from pgrpo.toy.evaluate import JudgedSample
    from pgrpo.toy.splits import Splits

PAIRS_SEED = 2  # the seeded share of coherence pairs; the rm_pairs draw uses PAIRS_DRAW_SEED
PAIRS_DRAW_SEED = 0
SFT_EVAL_SEED = 0  # the SFT policy's evaluation draws (RL runs use their own seed)


def splits_of(config: DemoConfig) -> Splits:
    """The splits by task identity: one partition for every config (pgrpo.toy.splits.make_splits)."""
    from pgrpo.toy.splits import make_splits

    return make_splits()


def take_problems(config: DemoConfig, splits: Splits, name: str, n: int) -> list[Problem]:
    """The first `n` problems of split `name`; a selection run caps `n` at the (smaller) selection split."""
    from pgrpo.toy.splits import split_problems

    if config.evaluate_on == "selection":
        n = min(n, splits.sizes()[name])
    return split_problems(splits, name, n)


def eval_problems(config: DemoConfig, splits: Splits) -> list[Problem]:
    return take_problems(config, splits, config.eval_split, config.eval_problems)


def rl_problems(config: DemoConfig) -> list[Problem]:
    """The RL training prompts: the first `rl_problems` tasks of rl_train."""
    from pgrpo.toy.splits import split_problems

    return split_problems(splits_of(config), "rl_train", config.rl_problems)


def pair_problems(config: DemoConfig, splits: Splits) -> list[Problem]:
    """The OD pairs' problems (the score-based baseline uses the same ones): a draw from rm_pairs."""
    from pgrpo.toy.splits import split_problems

    return split_problems(splits, "rm_pairs", config.pair_problems, seed=PAIRS_DRAW_SEED)


def write_eval_samples(path: Path, judged: list[JudgedSample], seed: int) -> None:
    """The evaluation samples (task, sample index, seed, verdict, response): the readouts' input,
    and the record that two modes with one seed drew the same evaluation problems."""
    write_jsonl(path, [{"task_id": j.problem.task_id, "index": j.index, "seed": seed, "passed": j.passed,
                        "format_ok": j.format_ok, "completion": j.text} for j in judged])


def stage_policy(stage_dir: Path, config: DemoConfig) -> dict:
    from pgrpo.toy.evaluate import evaluate_samples
    from pgrpo.toy.readouts import records_of, summarize
    from pgrpo.toy.sft import ensure_sft_policy
    from pgrpo.toy.splits import class_shares

    splits = splits_of(config)
    policy, info = ensure_sft_policy(config.sft_config, config.cache_dir, config.progress)
    problems = eval_problems(config, splits)
    with toy_verifier() as verifier:
        ev, judged = evaluate_samples(str(policy), problems, n=config.eval_samples, seed=SFT_EVAL_SEED,
                                      verify=verifier)
    write_eval_samples(stage_dir / "eval_samples.jsonl", judged, SFT_EVAL_SEED)
    readouts = summarize(records_of([j.problem for j in judged], [j.reasoning for j in judged],
                                    [j.passed for j in judged]))
    return {"path": str(policy), "sft": info, "eval": dataclasses.asdict(ev), "readouts": readouts.as_dict(),
            "splits": {"sizes": splits.sizes(),
                       "class_shares": {name: class_shares(splits.tasks(name)) for name in splits.sizes()}}}


def stage_pairs(stage_dir: Path, config: DemoConfig, policy: str) -> dict:
    from pgrpo.llm import CachedBackend
    from pgrpo.rm.pairs import PairsConfig, PairsRun
    from pgrpo.toy.backend import ToyBackend, write_initial
    from pgrpo.toy.evaluate import sample_responses

    problems = pair_problems(config, splits_of(config))
    own = sample_responses(policy, problems, 1, temperature=1.0, seed=1)
    write_initial(stage_dir / "policy_responses.jsonl", [(p.statement, r[0]) for p, r in zip(problems, own)])
    backend = CachedBackend(ToyBackend(initial=str(stage_dir / "policy_responses.jsonl"), world=config.world),
                            stage_dir / "llm_cache")
    pairs_config = PairsConfig(prompt_style=TOY_PROMPT_STYLE, max_tokens=256, batch_problems=32)
    summary = PairsRun(problems, backend, stage_dir, pairs_config).run(progress=config.progress)
    backend.close()
    train_path, kept = rm_training_pairs(stage_dir / "pairs.jsonl", config.coherence_pair_fraction)
    return {"count": summary.pairs, "problems": summary.problems, "status": summary.status_counts,
            "by_dimension": summary.pair_counts, "path": str(train_path), "train_count": kept,
            "path_all": str(stage_dir / "pairs.jsonl")}


def rm_training_pairs(pairs_path: Path, coherence_fraction: float,
                      name: str = "rm_train_pairs.jsonl") -> tuple[Path, int]:
    """All factual / logic pairs and a seeded `coherence_fraction` of the coherence pairs, written
    next to pairs.jsonl as `name` (so the RM input metadata there still applies); returns (path, count)."""
    rows = read_jsonl(pairs_path)
    if coherence_fraction >= 1.0:
        return pairs_path, len(rows)
    coherence = [i for i, r in enumerate(rows) if r.get("dimension") == "coherence"]
    keep = set(random.Random(f"coherence-pairs:{PAIRS_SEED}").sample(
        coherence, round(coherence_fraction * len(coherence))))
    kept = [r for i, r in enumerate(rows) if r.get("dimension") != "coherence" or i in keep]
    train_path = pairs_path.with_name(name)
    return train_path, write_jsonl(train_path, kept)


def train_rm(stage_dir: Path, config: DemoConfig, pairs_path: str, policy: str) -> dict:
    """A Bradley-Terry RM with the config's head, beta, epochs and learning rate, from the policy."""
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


def stage_rm(stage_dir: Path, config: DemoConfig, pairs_path: str, policy: str) -> dict:
    return train_rm(stage_dir, config, pairs_path, policy)


def stage_bench(stage_dir: Path, config: DemoConfig, policy: str, rm_path: str | None) -> dict:
    """The toy LCB-RB on the config's bench split; the RM at `rm_path` scored on it (None: build only)."""
    from pgrpo.bench.build import BenchBuild, BenchConfig
    from pgrpo.llm import CachedBackend, make_backend
    from pgrpo.toy.backend import OracleJudge

    problems = take_problems(config, splits_of(config), config.bench_split, config.bench_problems)
    generator = CachedBackend(make_backend("hf", policy, device="cpu", dtype="float32", max_batch_size=64),
                              stage_dir / "llm_cache")
    bench_config = BenchConfig(samples=config.bench_samples, temperature=1.0, top_p=1.0,
                               max_tokens=config.max_completion_length, prompt_style=TOY_PROMPT_STYLE,
                               batch_problems=16, pairs_per_problem=2)
    with toy_verifier() as verifier:
        summary = BenchBuild(problems, generator, OracleJudge(), stage_dir, bench_config, verifier).run(
            progress=config.progress)
    generator.close()
    out = {"split": config.bench_split, "problems": len(problems), "pairs": summary.pairs,
           "status": summary.status_counts, "path": str(stage_dir / "lcb_rb.jsonl"),
           "lcb_rb_accuracy": None, "lcb_rb_ci95": None}
    if summary.pairs and rm_path:
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


def probe_tasks(config: DemoConfig) -> list[ToyTask]:
    """The probe's tasks: the first `probe_problems` tasks of rm_select."""
    return splits_of(config).take("rm_select", config.probe_problems)


def probe(config: DemoConfig, rm_path: str) -> dict:
    """The RM's blind spot on rm_select probe pairs (canonical vs invalid / valid sign shortcut)."""
    from pgrpo.toy.probe import probe_pairs, score_probe

    pairs = probe_pairs(probe_tasks(config))
    if not pairs:
        return {"pairs": 0}
    result = dataclasses.asdict(score_probe(rm_path, pairs))
    return {"pairs": len(pairs), **json_safe(result)}


def json_safe(value):
    """NaN (no pair of a kind) -> None, so result.json stays standard JSON; tuples -> lists."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def stage_probe(stage_dir: Path, config: DemoConfig, rm_path: str) -> dict:
    return probe(config, rm_path)


def stage_baseline(stage_dir: Path, config: DemoConfig, policy: str, target_pairs: int, bench_file: str) -> dict:
    """The score-based RM: pairs labelled by test outcome only (pgrpo.toy.baseline) on the OD
    pairs' problems, cycled or truncated to the OD RM's pair count, the same RM training, scored
    on the same toy LCB-RB and probe."""
    from pgrpo.toy.baseline import score_based_pairs

    problems = pair_problems(config, splits_of(config))
    with toy_verifier() as verifier:
        made = score_based_pairs(policy, problems, config.baseline_samples, stage_dir / "pairs.jsonl", verifier,
                                 seed=PAIRS_DRAW_SEED)
    out: dict = {"pairs": made.count, "problems_used": made.problems_used, "target_pairs": target_pairs,
                 "lcb_rb_accuracy": None, "lcb_rb_ci95": None}
    if not made.count:
        return out
    rows = read_jsonl(made.path)
    resized = resize_pairs(rows, target_pairs)
    train_path = Path(made.path).with_name("rm_train_pairs.jsonl")
    out["train_count"] = write_jsonl(train_path, resized)
    out["cycled"] = len(rows) < target_pairs
    out["rm"] = train_rm(stage_dir, config, str(train_path), policy)
    if Path(bench_file).is_file() and read_jsonl(bench_file):
        accuracy, _ = score_lcb_rb(Path(bench_file), out["rm"]["path"], stage_dir / "rm_eval")
        out["lcb_rb_accuracy"], out["lcb_rb_ci95"] = accuracy.accuracy, [accuracy.ci_low, accuracy.ci_high]
    out["probe"] = probe(config, out["rm"]["path"])
    return out


def resize_pairs(rows: list, target: int, seed: int = PAIRS_DRAW_SEED) -> list:
    """`target` rows (the OD RM's budget): whole passes over `rows`, each a seeded permutation,
    then a seeded sample for the last partial pass, so no row appears more often than another by
    its position (counts differ by at most one, at random)."""
    if not rows:
        return []
    rng = random.Random(f"baseline-pairs:{seed}")
    out: list = []
    while len(out) + len(rows) <= target:
        out += rng.sample(rows, len(rows))
    return out + rng.sample(rows, target - len(out))


def stage_pools(config: DemoConfig) -> dict[str, list[ToyTask]]:
    """Every task pool a run of `config` uses, by use, built by the same functions the stages call
    (the disjointness test and the report read it)."""
    from pgrpo.toy.sft import demonstrations
    from pgrpo.toy.world import task_of

    splits = splits_of(config)
    return {"sft": [d.task for d in demonstrations(config.sft_config)],
            "rm_pairs": [task_of(p) for p in pair_problems(config, splits)],
            "probe": probe_tasks(config),
            "bench": [task_of(p) for p in take_problems(config, splits, config.bench_split, config.bench_problems)],
            "rl_train": [task_of(p) for p in rl_problems(config)],
            "eval": [task_of(p) for p in eval_problems(config, splits)]}
