"""CLI: `pgrpo rm train`, `rm eval`, `rm serve`, `rm vllm-name` and `rm pairs` (thin: parse arguments,
build the config / evaluator, call the module that does the work; `rm serve` imports its server in run()).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from pgrpo.commands import Runner, command
from pgrpo.config import ConfigError, load_config
from pgrpo.data.cli_args import add_problem_arguments, load_selected_problems
from pgrpo.data.io import BadLine, write_jsonl
from pgrpo.errors import PgrpoError
from pgrpo.hf_loading import DTYPE_NAMES
from pgrpo.llm import add_backend_arguments, backend_from_args
from pgrpo.rm.backends import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ITEMS,
    DEFAULT_PORT,
    TOKEN_ENV,
    vllm_served_name,
)
from pgrpo.rm.benchmarks import load_benchmark
from pgrpo.rm.config import RMTrainConfig
from pgrpo.rm.evaluate import (
    EvaluatorOptions,
    PairEvaluator,
    evaluate,
    render_markdown,
    reward_model_evaluator,
    write_outputs,
)
from pgrpo.rm.fitting import check_config
from pgrpo.rm.judge_eval import llm_judge_evaluator
from pgrpo.rm.manifest import MANIFEST_FILE
from pgrpo.rm.od import ODTemplates
from pgrpo.rm.pairs import PairsConfig, PairsRun
from pgrpo.rm.train import train_reward_model


@command("rm train", help="Train a Bradley-Terry reasoning reward model on preference pairs (TRL RewardTrainer)")
def configure_train(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--config", help="YAML recipe, e.g. recipes/rm/tiny-cpu.yaml")
    parser.add_argument("--train", help="pairs JSONL (sets data.train)")
    parser.add_argument("--eval", help="held-out pairs JSONL (sets data.eval; default: split off --train)")
    parser.add_argument("--model", help="base checkpoint (sets model.path)")
    parser.add_argument("--out", help="output directory (sets output_dir)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip malformed pairs (each is reported by file:line) instead of failing")
    parser.add_argument("--include-code", choices=["auto", "true", "false"], default="auto",
                        help="does the RM read the sides' code? auto: the pairs' pgrpo_pairs.json, else detected; "
                             "recorded in the RM's manifest (OUT/pgrpo_rm.json), which every consumer reads")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted config overrides, e.g. train.epochs=2 lora.enabled=true")
    parser.add_argument("--check", action="store_true", help="only load and validate the recipe (no model is loaded)")

    def run(args: argparse.Namespace) -> int:
        flags = [f"data.train={args.train}" if args.train else None,
                 f"data.eval={args.eval}" if args.eval else None,
                 f"model.path={args.model}" if args.model else None,
                 f"output_dir={args.out}" if args.out else None,
                 "data.skip_bad=true" if args.skip_bad else None]
        config = load_config(RMTrainConfig, args.config, [f for f in flags if f] + list(args.overrides))
        if args.check:
            try:
                check_config(config)
            except ConfigError as exc:
                raise ConfigError(f"{args.config}: {exc}") from exc
            print(f"{args.config}: OK")
            return 0
        result = train_reward_model(config, include_code=args.include_code)
        print(f"RM input: problem + reasoning{' + code' if result.manifest.include_code else ''} "
              f"({result.include_code_source}); manifest: {Path(config.output_dir) / MANIFEST_FILE}")
        for line in result.skipped_lines:
            print(f"skipped: {line}")
        summary = {"output_dir": result.output_dir, "train_pairs": result.n_train,
                   "heldout_pairs": result.n_heldout, "skipped": result.n_skipped,
                   "truncated_sides": result.n_truncated, "train_loss": result.train_loss}
        if result.heldout is not None:
            summary["heldout_accuracy"] = result.heldout.overall.accuracy
            summary["by_pair_type"] = {k: v.accuracy for k, v in result.heldout.by_pair_type.items()}
            summary["by_dimension"] = {k: v.accuracy for k, v in result.heldout.by_dimension.items()}
        print(json.dumps(summary, indent=2))
        return 0

    return run


# `--evaluator` name -> factory (each imports its model library only when called)
EVALUATORS: dict[str, Callable[[EvaluatorOptions], PairEvaluator]] = {
    "reward-model": reward_model_evaluator, "llm-judge": llm_judge_evaluator}


@command("rm eval", help="Accuracy of a reward model on preference benchmarks (LCB-RB, RewardBench 1 and 2, "
                          "RM-Bench, JudgeBench, pairs)")
def configure_eval(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--data", required=True,
                        help="benchmark JSONL or JSON array (format detected by its keys; see the README's table)")
    parser.add_argument("--format", metavar="NAME",
                        help="skip autodetection: a registered format (pgrpo.rm.benchmarks), e.g. lcb-rb, rewardbench, "
                             "rewardbench2, rm-bench, judgebench, pairs")
    parser.add_argument("--subsets", nargs="+", metavar="GLOB",
                        help="keep only these subsets (glob patterns, matched case-sensitively), e.g. 'hep-*' math-prm; "
                             "RM-Bench: domains (code math; safety is 'safety-*': its domains are safety-refuse "
                             "and safety-response); JudgeBench: sources (livecodebench); RewardBench 2: Math")
    parser.add_argument("--evaluator", default="reward-model", help=f"one of {', '.join(EVALUATORS)} (default reward-model)")
    EvaluatorOptions.add_arguments(parser)
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% CI")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="directory for results.json, results.md and scores.jsonl")

    def run(args: argparse.Namespace) -> int:
        excluded: list[BadLine] = []
        fmt, pairs = load_benchmark(args.data, args.format, args.subsets, excluded)
        if excluded:
            print(f"left out {len(excluded)} row(s) of {args.data}, e.g. {excluded[0]}", file=sys.stderr)
        if args.evaluator not in EVALUATORS:
            raise PgrpoError(f"--evaluator: unknown evaluator {args.evaluator!r}; "
                             f"known: {', '.join(sorted(EVALUATORS))}")
        options = EvaluatorOptions.from_args(args)
        if args.out and args.evaluator == "llm-judge":  # a rerun re-asks nothing
            cache = {"cache_dir": str(Path(args.out) / "llm_cache")}
            options = options.model_copy(update={"extra": cache | options.extra})
        evaluator = EVALUATORS[args.evaluator](options)
        note = getattr(evaluator, "input_note", "")
        if note:
            print(note)
        try:
            report, scores = evaluate(evaluator, pairs, fmt, args.data, n_boot=args.n_boot, seed=args.seed)
        finally:
            backend = getattr(evaluator, "backend", None)
            if backend is not None:
                print(f"{args.evaluator} " + backend.usage.format(), file=sys.stderr)
                backend.close()
        print(render_markdown(report), end="")
        failures = evaluator.failure_report() if hasattr(evaluator, "failure_report") else ""
        if failures:
            print(failures)
        if args.out:
            write_outputs(args.out, report, pairs, scores)
            print(f"wrote {args.out}/results.json, results.md, scores.jsonl")
            outcomes = getattr(evaluator, "outcomes", None)
            if outcomes is not None:
                write_jsonl(Path(args.out) / "judge_verdicts.jsonl", [dataclasses.asdict(o) for o in outcomes])
                print(f"wrote {args.out}/judge_verdicts.jsonl")
        return 0

    return run


@command("rm serve", help="Serve a reward model (either head) over HTTP for `reward.rm_url` (FastAPI + uvicorn)")
def configure_serve(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--model", required=True, help="reward model directory (with its pgrpo_rm.json manifest)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; anything else requires a token)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: a free one, printed at start)")
    parser.add_argument("--token", default=None,
                        help=f"shared bearer token clients must send (default: env {TOKEN_ENV}; prefer the env "
                             "var: a command-line token is visible in ps)")
    parser.add_argument("--batch-size", type=int, help="items per forward pass (default: RewardScorer's)")
    parser.add_argument("--batch-tokens", type=int,
                        help="token budget of the requests scored together (default: the service's "
                             "DEFAULT_BATCH_TOKENS)")
    parser.add_argument("--max-length", type=int, help="tokens per item (default: the RM's training length)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--dtype", choices=DTYPE_NAMES)
    parser.add_argument("--max-items", type=int, default=DEFAULT_MAX_ITEMS, help="most items one request may carry")
    parser.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / (1 << 20),
                        help="largest request body in MiB")

    def run(args: argparse.Namespace) -> int:
        from pgrpo.rm.scoring import RewardScorer
        from pgrpo.rm.service import DEFAULT_BATCH_TOKENS, check_binding, serve

        token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
        check_binding(args.host, token)  # before the model loads
        batch_tokens = DEFAULT_BATCH_TOKENS if args.batch_tokens is None else args.batch_tokens
        if (args.max_items < 1 or args.max_body_mb <= 0 or batch_tokens < 1
                or (args.batch_size is not None and args.batch_size < 1)):
            raise PgrpoError("--max-items / --max-body-mb / --batch-tokens / --batch-size: must be positive")
        sizes = {} if args.batch_size is None else {"batch_size": args.batch_size}  # default: RewardScorer's
        scorer = RewardScorer(args.model, max_length=args.max_length, device=args.device, dtype=args.dtype, **sizes)
        serve(scorer, host=args.host, port=args.port, token=token, max_items=args.max_items,
              max_body_bytes=int(args.max_body_mb * (1 << 20)), batch_tokens=batch_tokens)
        return 0

    return run


@command("rm vllm-name", help="Print the --served-model-name `vllm serve` must use for a scalar RM "
                               "(reward.rm_backend=vllm checks it; docs/rm-service.md)")
def configure_vllm_name(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("model", help="reward model directory, or a copy of it without the weights")

    def run(args: argparse.Namespace) -> int:
        name, files = vllm_served_name(args.model)
        print(name)
        print(f"(a hash of {', '.join(files)} in {args.model}; serve with: vllm serve {args.model} --runner pooling "
              f"--convert classify --served-model-name {name} ...)", file=sys.stderr)
        return 0

    return run


@command("rm pairs", help="Generate OD (optimized/degraded) preference pairs for reward-model training")
def configure_pairs(parser: argparse.ArgumentParser) -> Runner:
    add_problem_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory (pairs.jsonl, od_records.jsonl, summary.json)")
    parser.add_argument("--cache-dir", default=None, help="LLM cache directory (default: OUT/llm_cache)")
    parser.add_argument("--templates", default=None, help="directory overriding od_templates/ files")
    PairsConfig.add_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_backend_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        config = PairsConfig.from_args(args)
        problems = load_selected_problems(args)
        out = Path(args.out)
        templates = ODTemplates.load(args.templates)
        backend = backend_from_args(args, args.cache_dir or out / "llm_cache")
        try:
            summary = PairsRun(problems, backend, out, config, templates).run(progress=not args.quiet)
        finally:
            print(backend.usage.format(), file=sys.stderr)
            backend.close()
        print(summary.format())
        print(f"wrote {out / 'pairs.jsonl'}")
        return 1 if summary.failed else 0

    return run
