"""`pgrpo check`: the CLI wrapper around pgrpo.sandbox.check.run_check (arguments only).

Does NOT protect against anything itself: samples run inside pgrpo.sandbox.
"""

from __future__ import annotations

import argparse

from pgrpo.cli import command
from pgrpo.errors import PgrpoError


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k: expected comma-separated integers like 1,10, got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"--k: every k must be >= 1, got {text!r}")
    return ks


@command("check", help="Run samples against a problem set's tests in the sandbox; print pass@k")
def configure_check(parser: argparse.ArgumentParser):
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
    parser.add_argument("--timeout", type=float, default=None, help="seconds per test (default: sandbox default)")
    parser.add_argument("--memory-mb", type=int, default=None, help="memory cap per program in MiB")
    parser.add_argument("--workers", type=int, default=None, help="parallel sandbox workers (default: all CPUs)")
    parser.add_argument("--fresh", action="store_true", help="ignore partial results of an interrupted run")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(args: argparse.Namespace) -> int:
        from dataclasses import replace

        from pgrpo.data.loaders import load_problems
        from pgrpo.sandbox.check import run_check
        from pgrpo.sandbox.types import SandboxConfig

        config = SandboxConfig()
        overrides = {"timeout_per_test_s": args.timeout, "memory_mb": args.memory_mb, "workers": args.workers}
        config = replace(config, **{key: value for key, value in overrides.items() if value is not None})
        if config.timeout_per_program_s < config.timeout_per_test_s:  # a longer --timeout raises the cap too
            config = replace(config, timeout_per_program_s=config.timeout_per_test_s)
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
