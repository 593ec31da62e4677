"""`pgrpo bench build`: build the LCB-RB reward-model benchmark (see pgrpo.bench.build)."""

from __future__ import annotations

import argparse
import sys

from pgrpo.commands import Runner, command
from pgrpo.data.cli_args import (
    add_problem_arguments,
    add_prompt_style_argument,
    checked_prompt_style,
    load_selected_problems,
)
from pgrpo.llm import add_backend_arguments
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args


@command("bench build", help="Build LCB-RB: pairs of good-reasoning/correct vs bad-reasoning/incorrect solutions")
def configure_build(parser: argparse.ArgumentParser) -> Runner:
    add_problem_arguments(parser)
    parser.add_argument("--out", required=True,
                        help="output directory (lcb_rb.jsonl, review.md, datasheet.md/json, samples.jsonl)")
    parser.add_argument("--cache-dir", default=None, help="LLM cache directory (default: OUT/llm_cache)")
    parser.add_argument("--samples", type=int, default=50, help="responses per problem (paper: 50)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs-per-problem", type=int, default=1)
    parser.add_argument("--batch-problems", type=int, default=4)
    parser.add_argument("--judge", default="llm",
                        help="a judge of pgrpo.bench.judge.JUDGES: llm (ask the judge model, --judge-model "
                             "or the generator) or a judge a plugin registers")
    add_prompt_style_argument(parser)
    parser.add_argument("--judge-template", default=None, help="judge prompt file ($statement $reasoning $code)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_backend_arguments(parser)
    add_backend_arguments(parser, prefix="judge-", role="judge")
    add_sandbox_arguments(parser, short_flags=False)  # --timeout is the LLM request timeout here

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from pgrpo.bench.build import BenchBuild, BenchConfig
        from pgrpo.bench.judge import judge_needs_backend, make_judge
        from pgrpo.errors import PgrpoError
        from pgrpo.llm import backend_from_args
        from pgrpo.verify import Verifier

        if args.samples < 2:
            raise PgrpoError("--samples must be >= 2 (a pair needs a correct and an incorrect sample)")
        problems = load_selected_problems(args)
        out = Path(args.out)
        cache = args.cache_dir or out / "llm_cache"
        generator = backend_from_args(args, cache)
        judge_backend = None
        if judge_needs_backend(args.judge):
            # default: the generator judges too (same cache; one model loaded)
            judge_backend = backend_from_args(args, cache, prefix="judge-") if args.judge_model else generator
        config = BenchConfig(samples=args.samples, temperature=args.temperature, top_p=args.top_p,
                             max_tokens=args.max_tokens, seed=args.seed, pairs_per_problem=args.pairs_per_problem,
                             batch_problems=max(1, args.batch_problems),
                             prompt_style=checked_prompt_style(args.prompt_style))
        verifier = Verifier(sandbox_config_from_args(args), progress=not args.quiet)
        judge = make_judge(args.judge, judge_backend, args.judge_template)
        build = BenchBuild(problems, generator, judge, out, config, verifier, window=(args.start_date, args.end_date))
        try:
            summary = build.run(progress=not args.quiet)
        finally:
            verifier.close()
            print("generator " + generator.usage.format(), file=sys.stderr)
            generator.close()
            if judge_backend is not None and judge_backend is not generator:
                print("judge " + judge_backend.usage.format(), file=sys.stderr)
                judge_backend.close()
        print(summary.format())
        print(f"wrote {out / 'lcb_rb.jsonl'}, {out / 'review.md'}, {out / 'datasheet.md'}")
        return 1 if summary.failed else 0

    return run
