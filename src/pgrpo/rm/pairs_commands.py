"""`pgrpo rm pairs`: generate OD-based preference pairs with a generator LLM (see pgrpo.rm.pairs)."""

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
from pgrpo.llm.cli_args import add_backend_arguments


@command("rm pairs", help="Generate OD (optimized/degraded) preference pairs for reward-model training")
def configure_pairs(parser: argparse.ArgumentParser) -> Runner:
    add_problem_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory (pairs.jsonl, od_records.jsonl, summary.json)")
    parser.add_argument("--cache-dir", default=None, help="LLM cache directory (default: OUT/llm_cache)")
    parser.add_argument("--templates", default=None, help="directory overriding od_templates/ files")
    parser.add_argument("--dimensions", default=None, help="comma list (default: all in dimensions.yaml)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-problems", type=int, default=8, help="problems whose calls are batched")
    parser.add_argument("--execute", action="store_true", help="run the code of y and its variants in the sandbox")
    parser.add_argument("--no-require-format", action="store_true",
                        help="accept responses without the <think>/<answer> format")
    parser.add_argument("--include-code", action="store_true",
                        help="pair sides = reasoning + code (default: reasoning only, what the RL reward scores); "
                             "`rm train` records it in the RM's manifest")
    add_prompt_style_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_backend_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from pgrpo.llm.cli_args import backend_from_args
        from pgrpo.rm.od import ODTemplates
        from pgrpo.rm.pairs import PairsConfig, PairsRun

        problems = load_selected_problems(args)
        out = Path(args.out)
        config = PairsConfig(
            dimensions=tuple(d.strip() for d in (args.dimensions or "").split(",") if d.strip()),
            temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed,
            batch_problems=max(1, args.batch_problems), execute=args.execute,
            require_format=not args.no_require_format, include_code=args.include_code,
            prompt_style=checked_prompt_style(args.prompt_style))
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
