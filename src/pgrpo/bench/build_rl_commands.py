"""`pgrpo data build-rl`: the command that builds the RL training set (pgrpo.data.build_rl).

It lives here, not in `pgrpo.data.commands`, because it runs reference solutions in the sandbox:
`pgrpo.data` sits below `pgrpo.sandbox` and `pgrpo.verify` in the import layers, so the pipeline
takes a `SolutionRunner` and this module supplies the one backed by `pgrpo.verify.Verifier`
(a local sandbox pool, or `pgrpo sandbox serve` with `--sandbox-url`). Owns argument parsing and
that adapter only. Untrusted code (the datasets' reference solutions) runs only in pgrpo.sandbox.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgrpo.commands import command
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args

if TYPE_CHECKING:
    from pgrpo.data.build_rl import SolutionCheck, SolutionRunner
    from pgrpo.data.problem import Problem
    from pgrpo.verify import Verifier

DEFAULT_EVALS = ("humaneval",)


def verifier_runner(verifier: Verifier) -> SolutionRunner:
    """Run each problem's reference solution (a whole program) against its tests."""
    from pgrpo.data.build_rl import SolutionCheck
    from pgrpo.sandbox.programs import program_from_solution
    from pgrpo.sandbox.types import Job

    def run(problems: Sequence[Problem]) -> list[SolutionCheck]:
        jobs = [Job(p, program_from_solution(p, p.canonical_solution or "")) for p in problems]
        return [SolutionCheck(r.passed, r.status.value, r.runtime_s, r.detail) for r in verifier.run_jobs(jobs)]

    return run


@command("data build-rl", help="Build the RL training set from public sources: filtered, deduplicated, "
                               "decontaminated against the evaluation sets; report + datasheet")
def configure_build_rl(parser: argparse.ArgumentParser):
    parser.add_argument("--source", action="append", required=True, metavar="NAME:PATH_OR_HUB[#SPLIT]",
                        help="a training source, repeatable: lcb:FILE, taco:BAAI/TACO#train, apps:FILE, "
                             "codecontests:deepmind/code_contests#train, pgrpo:FILE (NAME picks the format)")
    parser.add_argument("--eval", action="append", default=None, metavar="NAME[=PATH][:START..END]",
                        help="an evaluation set to decontaminate against, repeatable: humaneval (packaged), "
                             "humaneval_plus=FILE, mbpp=FILE, mbpp_plus=FILE, lcb=FILE:2024-08-01..2025-02-01, "
                             f"bigcodebench=FILE (default: {', '.join(DEFAULT_EVALS)})")
    parser.add_argument("--out", default="data/train/code-rl.jsonl",
                        help="output JSONL; report and datasheet are written next to it")
    parser.add_argument("--before", default=None, help="keep only problems dated before this ISO date "
                                                       "(LiveCodeBench releases before the evaluation window)")
    parser.add_argument("--min-tests", type=int, default=5, help="drop problems with fewer tests")
    parser.add_argument("--ngram", type=int, default=13, help="statement n-gram length for decontamination")
    parser.add_argument("--ngram-threshold", type=float, default=0.2,
                        help="contaminated when this share of the shorter statement's n-grams is shared")
    parser.add_argument("--min-shared-tests", type=int, default=3,
                        help="contaminated when this many test cases (and half the problem's) are shared")
    parser.add_argument("--max-solution-seconds", type=float, default=10.0,
                        help="drop problems whose reference solution takes longer (all tests)")
    parser.add_argument("--require-solution", action="store_true",
                        help="drop problems without a reference solution (default: keep them unverified)")
    parser.add_argument("--no-verify", action="store_true", help="do not run reference solutions")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_sandbox_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from pgrpo.data.build_rl import BuildConfig, SourceSpec, build_rl, parse_before
        from pgrpo.data.build_rl_report import summary_line, write_outputs
        from pgrpo.data.decontaminate import EvalSpec
        from pgrpo.verify import Verifier

        sandbox = sandbox_config_from_args(args)
        config = BuildConfig(
            sources=tuple(SourceSpec.parse(s) for s in args.source),
            evals=tuple(EvalSpec.parse(e) for e in (args.eval or DEFAULT_EVALS)),
            out=Path(args.out), before=parse_before(args.before), min_tests=args.min_tests, ngram=args.ngram,
            ngram_threshold=args.ngram_threshold, min_shared_tests=args.min_shared_tests,
            max_solution_seconds=args.max_solution_seconds, require_solution=args.require_solution,
            check_tag=f"timeout_per_test_s={sandbox.timeout_per_test_s},memory_mb={sandbox.memory_mb}")
        with Verifier(sandbox, progress=False) as verifier:
            runner = None if args.no_verify else verifier_runner(verifier)
            result = build_rl(config, runner, progress=not args.quiet)
        paths = write_outputs(result, config)
        print(summary_line(result, paths))
        return 0

    return run
