"""`pgrpo evaluate` (a checkpoint's pass@k on code and math benchmarks) and `pgrpo check` (a samples
file's pass@k, human-eval / EvalPlus style): arguments only; nothing heavy imported at module level.
"""

from __future__ import annotations

import argparse
from typing import Any

from pgrpo.commands import Runner, command
from pgrpo.errors import PgrpoError
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args


def _backend_options(items: list[str] | None) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise PgrpoError(f"--backend-option {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise PgrpoError(f"--backend-option {item!r}: cannot parse value: {exc}") from None
    return out


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k: expected comma-separated integers like 1,10, got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"--k: every k must be >= 1, got {text!r}")
    return ks


@command("evaluate", help="Generate with a model and report pass@k on HumanEval(+), MBPP(+), LiveCodeBench, math")
def configure_evaluate(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--model", help="checkpoint path or hub id (not needed with --rescore)")
    parser.add_argument("--benchmarks", default="humaneval",
                        help="comma-separated: humaneval, humaneval_plus, mbpp, mbpp_plus, lcb, math500, aime24, "
                             "minerva, bigcodebench, bigcodebench_instruct, bigcodebench_hard, "
                             "bigcodebench_hard_instruct, file:PATH (default: humaneval)")
    parser.add_argument("--out", required=True, help="output directory (samples, results, summary); resumable")
    parser.add_argument("--n", type=int, default=1, help="samples per problem (default 1)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=4096, help="generation limit (paper: 4K)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="hf", help="hf | vllm | openai (default hf)")
    parser.add_argument("--backend-option", action="append", metavar="KEY=VALUE",
                        help="backend option, e.g. max_batch_size=4 or base_url=http://localhost:8000/v1")
    parser.add_argument("--prompt", default="pgrpo",
                        help="a registered prompt style: pgrpo = the training format (<think>/<answer>), "
                             "plain = an instruct prompt, or one a plugin registers")
    parser.add_argument("--rescore", action="store_true", help="only re-check the samples already in --out")
    parser.add_argument("--data", action="append", metavar="NAME=PATH",
                        help="use a local file for benchmark NAME (needed offline for all but humaneval)")
    parser.add_argument("--limit", type=int, help="first N problems of each benchmark (smoke tests)")
    parser.add_argument("--k", default="1,5,10,100", help="pass@k values to report (those <= n)")
    parser.add_argument("--lcb-window", action="append", metavar="START:END",
                        help="report LiveCodeBench pass@k for contest dates in this window (ISO dates)")
    parser.add_argument("--lcb-start", help="load only LiveCodeBench problems from this date (ISO)")
    parser.add_argument("--lcb-end", help="load only LiveCodeBench problems up to this date (ISO)")
    parser.add_argument("--lcb-difficulty", help="load only these LiveCodeBench difficulties (comma list)")
    add_sandbox_arguments(parser)
    parser.add_argument("--cache-dir", help="also cache raw completions here (sqlite, shared across runs)")
    parser.add_argument("--no-progress", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from pgrpo.data.cli_args import checked_prompt_style
        from pgrpo.evaluation.benchmarks import parse_data_overrides
        from pgrpo.evaluation.runner import EvalConfig, evaluate
        from pgrpo.evaluation.summary import DateWindow, render_markdown

        try:
            ks = _ks(args.k)
        except argparse.ArgumentTypeError as exc:  # a PgrpoError: main returns 2
            raise PgrpoError(str(exc)) from None
        sandbox = sandbox_config_from_args(args)
        lcb_options = {key: value for key, value in (("start_date", args.lcb_start), ("end_date", args.lcb_end),
                                                     ("difficulty", args.lcb_difficulty)) if value}
        config = EvalConfig(
            benchmarks=[b.strip() for b in args.benchmarks.split(",") if b.strip()], out_dir=args.out,
            model=args.model, backend=args.backend,
            backend_options=_backend_options(args.backend_option), n=args.n,
            prompt_style=checked_prompt_style(args.prompt),
            temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed,
            rescore=args.rescore, data=parse_data_overrides(args.data), limit=args.limit, ks=ks,
            lcb_windows=tuple(DateWindow.parse(w) for w in args.lcb_window or []), lcb_options=lcb_options,
            sandbox=sandbox,
            cache_dir=args.cache_dir, progress=not args.no_progress,
        )
        outcome = evaluate(config)
        gen = outcome.generation
        if gen is not None:
            print(f"generated {gen.generated}, reused {gen.reused}, already done {gen.already_done}, "
                  f"failed requests {gen.failed_requests}")
            for err in gen.errors:
                print(f"  error: {err}")
        print(render_markdown(outcome.summary))
        print(f"wrote {outcome.out.summary_md} and {outcome.out.summary_json}")
        return 1 if gen is not None and gen.failed_requests else 0

    return run


@command("check", help="Run samples against a problem set's tests in the sandbox; print pass@k")
def configure_check(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--problems", required=True,
                        help="'humaneval' (the packaged 164), a local json/jsonl/parquet file, or a hub dataset id")
    parser.add_argument("--format", default=None, help="problem file format (default: autodetect)")
    samples = parser.add_mutually_exclusive_group(required=True)
    samples.add_argument("--samples", help='JSONL of {"task_id", "completion"} or {"task_id", "solution"} lines')
    samples.add_argument("--canonical", action="store_true",
                         help="use each problem's canonical solution as its one sample")
    parser.add_argument("--out", default=None, help="results JSONL: one line per sample line, with sample_index")
    parser.add_argument("--k", type=_ks, default=(1, 10), help="pass@k values to report (default: 1,10)")
    parser.add_argument("--extract", action="store_true",
                        help="samples are full model responses: extract the code with pgrpo's parser")
    add_sandbox_arguments(parser)
    parser.add_argument("--fresh", action="store_true", help="ignore partial results of an interrupted run")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(args: argparse.Namespace) -> int:
        from pgrpo.data.loaders import load_problems
        from pgrpo.evaluation.check import run_check

        config = sandbox_config_from_args(args)
        problems = load_problems(args.problems, format=args.format)
        if not problems:
            raise PgrpoError(f"--problems {args.problems}: no problems loaded")
        summary = run_check(
            problems, args.samples, canonical=args.canonical, extract=args.extract, out=args.out, ks=args.k,
            config=config, progress=not args.no_progress, fresh=args.fresh,
        )
        print(summary.format())
        return 0

    return run
