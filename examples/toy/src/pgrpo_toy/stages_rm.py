"""The demo's stages up to the reward models, and every stage's problem pool: SFT policy, the
benches' generator, OD pairs and an RM per editor, the toy LCB-RB, the probes. Each is
`stage_x(stage_dir, config, ...) -> dict` (run by pgrpo_toy.stage.run_stage, which saves the dict
as the stage's result.json). The OD vs score-based comparison is pgrpo_toy.comparison.

Every problem pool comes from the splits by task identity (pgrpo_toy.splits): SFT demos from
"sft" (inside pgrpo_toy.sft), OD pairs and the score-based pairs from "rm_pairs", the probe from
"rm_select", the toy LCB-RB from "bench" (or "rm_select" when `evaluate_on="selection"`), the
policy's evaluation from "test" (or "rl_select"). Evaluation problems carry the strong tests;
RL prompts and the score-based pairs the training tests (`DemoConfig.train_tests`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.data import read_jsonl, write_jsonl, write_text_atomic
from pgrpo_toy.demo_config import DemoConfig
from pgrpo_toy.stage import toy_verifier
from pgrpo_toy.world import TOY_PROMPT_STYLE, ToyTask

if TYPE_CHECKING:
    from pgrpo.data import Problem
    from pgrpo.verify import BatchVerify
    from pgrpo_toy.evaluate import JudgedSample
    from pgrpo_toy.splits import Splits

PAIRS_SEED = 2  # the seeded share of coherence pairs; the rm_pairs draw uses PAIRS_DRAW_SEED
PAIRS_DRAW_SEED = 0
SFT_EVAL_SEED = 0  # the SFT policy's evaluation draws (RL runs use their own seed)


def splits_of(config: DemoConfig) -> Splits:
    """The splits by task identity: one partition for every config (pgrpo_toy.splits.make_splits)."""
    from pgrpo_toy.splits import make_splits

    return make_splits()


def take_problems(config: DemoConfig, splits: Splits, name: str, n: int) -> list[Problem]:
    """The first `n` problems of split `name`; a selection run caps `n` at the (smaller) selection split."""
    from pgrpo_toy.splits import split_problems

    if config.evaluate_on == "selection":
        n = min(n, splits.sizes()[name])
    return split_problems(splits, name, n)


def eval_problems(config: DemoConfig, splits: Splits) -> list[Problem]:
    return take_problems(config, splits, config.eval_split, config.eval_problems)


def rl_problems(config: DemoConfig) -> list[Problem]:
    """The RL training prompts: the first `rl_problems` tasks of rl_train, with the training tests
    (weak in the weak world: no strong test reaches training)."""
    from pgrpo_toy.splits import split_problems

    return split_problems(splits_of(config), "rl_train", config.rl_problems, tests=config.train_tests)


def pair_problems(config: DemoConfig, splits: Splits) -> list[Problem]:
    """The OD pairs' problems (the score-based pairs use the same ones): a draw from rm_pairs, with
    the training tests (the score-based pairs are labelled by them)."""
    from pgrpo_toy.splits import split_problems

    return split_problems(splits, "rm_pairs", config.pair_problems, seed=PAIRS_DRAW_SEED, tests=config.train_tests)


def write_eval_samples(path: Path, judged: list[JudgedSample], seed: int,
                       weak_passed: list[bool | None] | None = None) -> None:
    """The evaluation samples (task, sample index, seed, strong verdict, weak verdict or None,
    response): the readouts' input, and the record that two arms with one seed drew the same
    evaluation problems."""
    weak = weak_passed if weak_passed is not None else [None] * len(judged)
    write_jsonl(path, [{"task_id": j.problem.task_id, "index": j.index, "seed": seed, "passed": j.passed,
                        "weak_passed": w, "format_ok": j.format_ok, "completion": j.text}
                       for j, w in zip(judged, weak, strict=True)])


def weak_verdicts(config: DemoConfig, judged: list[JudgedSample], verify: BatchVerify) -> list[bool | None]:
    """Each judged sample's verdict under the weak tests in the weak world (None elsewhere: the
    training tests are the strong ones)."""
    from pgrpo_toy.world import task_of, to_problem

    if config.train_tests != "weak":
        return [None] * len(judged)
    weak_of = {j.problem.task_id: to_problem(task_of(j.problem), "weak") for j in judged}
    return [bool(v.passed) for v in verify([(weak_of[j.problem.task_id], j.text) for j in judged])]


def stage_policy(stage_dir: Path, config: DemoConfig) -> dict[str, Any]:
    from pgrpo_toy.evaluate import evaluate_samples
    from pgrpo_toy.readouts import records_of, summarize
    from pgrpo_toy.sft import ensure_sft_policy
    from pgrpo_toy.splits import class_shares

    splits = splits_of(config)
    policy, info = ensure_sft_policy(config.sft_config, config.cache_dir, config.progress)
    problems = eval_problems(config, splits)
    with toy_verifier() as verifier:
        ev, judged = evaluate_samples(str(policy), problems, n=config.eval_samples, seed=SFT_EVAL_SEED,
                                      verify=verifier)
        weak = weak_verdicts(config, judged, verifier)
    write_eval_samples(stage_dir / "eval_samples.jsonl", judged, SFT_EVAL_SEED, weak)
    readouts = summarize(records_of([j.problem for j in judged], [j.reasoning for j in judged],
                                    [j.passed for j in judged], None, weak))
    return {"path": str(policy), "sft": info, "eval": dataclasses.asdict(ev), "readouts": readouts.as_dict(),
            "splits": {"sizes": splits.sizes(),
                       "class_shares": {name: class_shares(splits.tasks(name)) for name in splits.sizes()}}}


def stage_generator(stage_dir: Path, config: DemoConfig) -> dict[str, Any]:
    """The benches' generator: the SFT recipe with another seed (other demos, other init) and
    `generator_steps` steps, cached like the policy."""
    from pgrpo_toy.sft import ensure_sft_policy

    path, info = ensure_sft_policy(config.generator_config, config.cache_dir, config.progress)
    return {"path": str(path), "sft": info}


def stage_pairs(stage_dir: Path, config: DemoConfig, policy: str, editor: str) -> dict[str, Any]:
    from pgrpo.llm import CachedBackend
    from pgrpo.rm import PairsConfig, PairsRun
    from pgrpo_toy.backend import ToyBackend, write_initial
    from pgrpo_toy.evaluate import sample_responses

    problems = pair_problems(config, splits_of(config))
    # The policy's own responses, the editors' initial y: one draw (seed 1) shared by every
    # editor's stage - the same policy, problems and seed give the same responses.
    shared = stage_dir.parent / "policy" / f"pair_responses-{len(problems)}.jsonl"
    if not shared.is_file():
        own = sample_responses(policy, problems, 1, temperature=1.0, seed=1)
        write_text_atomic(shared, "".join(json.dumps({"statement": p.statement, "response": r[0]}) + "\n"
                                          for p, r in zip(problems, own)))
    write_initial(stage_dir / "policy_responses.jsonl",
                  [(row["statement"], row["response"]) for row in read_jsonl(shared)])
    backend = CachedBackend(ToyBackend(initial=str(stage_dir / "policy_responses.jsonl"), editor=editor),
                            stage_dir / "llm_cache")
    pairs_config = PairsConfig(prompt_style=TOY_PROMPT_STYLE, max_tokens=256, batch_problems=32)
    summary = PairsRun(problems, backend, stage_dir, pairs_config).run(progress=config.progress)
    backend.close()
    train_path, kept = rm_training_pairs(stage_dir / "pairs.jsonl", config.coherence_pair_fraction)
    return {"editor": editor, "count": summary.pairs, "problems": summary.problems, "status": summary.status_counts,
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


def train_rm(stage_dir: Path, config: DemoConfig, pairs_path: str, policy: str, beta: float | None = None,
             heldout_fraction: float = 0.15) -> dict[str, Any]:
    """A Bradley-Terry RM with the config's head, beta (or `beta`), epochs and learning rate, from the policy;
    `heldout_fraction` of the pairs' problems held out for its accuracy check."""
    from pgrpo.rm import (
        DataSection,
        HeadSection,
        ModelSection,
        RMTrainConfig,
        TrainSection,
        train_reward_model,
    )

    rm_config = RMTrainConfig(
        output_dir=str(stage_dir / "model"),
        # As in the paper, the RM starts from the policy (here the SFT policy).
        model=ModelSection(path=policy),
        head=HeadSection(kind=config.rm_head, beta=config.rm_beta if beta is None else beta,
                         prompt_style=TOY_PROMPT_STYLE),
        data=DataSection(train=pairs_path, heldout_fraction=heldout_fraction),
        train=TrainSection(epochs=config.rm_epochs, learning_rate=config.rm_learning_rate, batch_size=16,
                           max_length=256, warmup_ratio=0.05, logging_steps=10, save_steps=100000,
                           eval_strategy="never", report_to=[], resume=False),
        seed=config.seeds[0])
    result = train_reward_model(rm_config)
    acc = result.heldout.overall.accuracy if result.heldout else None
    return {"path": rm_config.output_dir, "head": {"kind": config.rm_head, "beta": rm_config.head.beta},
            "heldout_accuracy": acc, "n_train": result.n_train, "n_heldout": result.n_heldout,
            "train_loss": result.train_loss}


def stage_rm(stage_dir: Path, config: DemoConfig, pairs_path: str, policy: str) -> dict[str, Any]:
    return train_rm(stage_dir, config, pairs_path, policy)


def build_bench(stage_dir: Path, config: DemoConfig, generator: str, split: str) -> tuple[Path, dict[str, Any]]:
    """A toy LCB-RB (`BenchBuild`: `generator`'s samples, the sandbox with the strong tests, the
    oracle judge) on the first `bench_problems` tasks of `split`; returns (lcb_rb.jsonl, summary)."""
    from pgrpo.bench import BenchBuild, BenchConfig
    from pgrpo.llm import CachedBackend, make_backend
    from pgrpo_toy.backend import OracleJudge

    problems = take_problems(config, splits_of(config), split, config.bench_problems)
    backend = CachedBackend(make_backend("hf", generator, device="cpu", dtype="float32", max_batch_size=64),
                            stage_dir / "llm_cache")
    bench_config = BenchConfig(samples=config.bench_samples, temperature=1.0, top_p=1.0,
                               max_tokens=config.max_completion_length, prompt_style=TOY_PROMPT_STYLE,
                               batch_problems=16, pairs_per_problem=2)
    with toy_verifier() as verifier:
        summary = BenchBuild(problems, backend, OracleJudge(), stage_dir, bench_config, verifier).run(
            progress=config.progress)
    backend.close()
    return stage_dir / "lcb_rb.jsonl", {"split": split, "problems": len(problems), "pairs": summary.pairs,
                                        "status": summary.status_counts, "path": str(stage_dir / "lcb_rb.jsonl")}


def stage_bench(stage_dir: Path, config: DemoConfig, generator: str, rm_paths: dict[str, str]) -> dict[str, Any]:
    """The toy LCB-RB on the config's bench split, written by the generator policy; every RM in
    `rm_paths` (editor -> path) scored on it, overall and per pair category."""
    from pgrpo_toy.lcb_rb import score_lcb_rb

    path, out = build_bench(stage_dir, config, generator, config.bench_split)
    out["rm"] = {}
    if out["pairs"]:
        for editor, rm_path in rm_paths.items():
            out["rm"][editor] = score_lcb_rb(path, rm_path, stage_dir / f"rm_eval-{editor}").as_dict()
    return out


def probe_tasks(config: DemoConfig) -> list[ToyTask]:
    """The probe's tasks: the first `probe_problems` tasks of rm_select."""
    return splits_of(config).take("rm_select", config.probe_problems)


def probe(config: DemoConfig, rm_path: str) -> dict[str, Any]:
    """The RM's blind spot on rm_select probe pairs (canonical vs invalid / valid sign shortcut)."""
    from pgrpo_toy.probe import probe_pairs, score_probe

    pairs = probe_pairs(probe_tasks(config))
    if not pairs:
        return {"pairs": 0}
    result = dataclasses.asdict(score_probe(rm_path, pairs))
    return {"pairs": len(pairs), **json_safe(result)}


def json_safe(value: Any) -> Any:
    """NaN (no pair of a kind) -> None, so result.json stays standard JSON; tuples -> lists."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def stage_probe(stage_dir: Path, config: DemoConfig, rm_paths: dict[str, str]) -> dict[str, Any]:
    """The blind-spot probe of every RM in `rm_paths` (editor -> path), under "by_rm"."""
    return {"by_rm": {editor: probe(config, rm_path) for editor, rm_path in rm_paths.items()}}


def stage_pools(config: DemoConfig) -> dict[str, list[ToyTask]]:
    """Every task pool a run of `config` uses, by use, built by the same functions the stages call
    (the disjointness test and the report read it)."""
    from pgrpo_toy.sft import demonstrations
    from pgrpo_toy.world import task_of

    splits = splits_of(config)
    return {"sft": [d.task for d in demonstrations(config.sft_config)],
            "generator_sft": [d.task for d in demonstrations(config.generator_config)],
            "rm_pairs": [task_of(p) for p in pair_problems(config, splits)],
            "probe": probe_tasks(config),
            "bench": [task_of(p) for p in take_problems(config, splits, config.bench_split, config.bench_problems)],
            "rl_train": [task_of(p) for p in rl_problems(config)],
            "eval": [task_of(p) for p in eval_problems(config, splits)]}
