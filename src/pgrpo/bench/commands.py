"""`pgrpo bench build`: build the LCB-RB reward-model benchmark (see pgrpo.bench.build)."""

from __future__ import annotations

import argparse
import sys

from pgrpo.bench.build import BenchBuild, BenchConfig
from pgrpo.commands import Runner, command
from pgrpo.data.cli_args import add_problem_arguments, load_selected_problems
from pgrpo.llm import add_backend_arguments
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args


@command("bench build", help="Build LCB-RB: pairs of good-reasoning/correct vs bad-reasoning/incorrect solutions")
def configure_build(parser: argparse.ArgumentParser) -> Runner:
    add_problem_arguments(parser)
    parser.add_argument("--out", required=True,
                        help="output directory (lcb_rb.jsonl, review.md, datasheet.md/json, samples.jsonl)")
    parser.add_argument("--cache-dir", default=None, help="LLM cache directory (default: OUT/llm_cache)")
    BenchConfig.add_arguments(parser)
    parser.add_argument("--judge", default="llm",
                        help="a judge of pgrpo.bench.judge.JUDGES: llm (ask the judge model, --judge-model "
                             "or the generator) or a judge a plugin registers")
    parser.add_argument("--judge-template", default=None, help="judge prompt file ($statement $reasoning $code)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_backend_arguments(parser)
    add_backend_arguments(parser, prefix="judge-", role="judge")
    add_sandbox_arguments(parser, short_flags=False)  # --timeout is the LLM request timeout here

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from pgrpo.bench.judge import judge_needs_backend, make_judge
        from pgrpo.llm import backend_from_args
        from pgrpo.verify import Verifier

        config = BenchConfig.from_args(args)
        problems = load_selected_problems(args)
        out = Path(args.out)
        cache = args.cache_dir or out / "llm_cache"
        generator = backend_from_args(args, cache)
        judge_backend = None
        if judge_needs_backend(args.judge):
            # default: the generator judges too (same cache; one model loaded)
            judge_backend = backend_from_args(args, cache, prefix="judge-") if args.judge_model else generator
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
