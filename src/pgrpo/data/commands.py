"""`pgrpo data inspect` and `pgrpo data convert`: argument parsing and printing over pgrpo.data.loaders."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from pgrpo.commands import Runner, command


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help='"humaneval" (packaged), a .json/.jsonl/.parquet file (.gz ok) or a hub id')
    parser.add_argument("--format", default=None, help="override autodetection (humaneval, evalplus, mbpp, "
                                                        "lcb, apps, pgrpo)")
    parser.add_argument("--split", default=None, help="hub dataset split (default: test)")
    parser.add_argument("--limit", type=int, default=None, help="keep at most this many problems")
    parser.add_argument("--start-date", default=None, help="keep contest_date >= this ISO date")
    parser.add_argument("--end-date", default=None, help="keep contest_date <= this ISO date")
    parser.add_argument("--difficulty", default=None, help="keep these difficulties (comma-separated)")
    parser.add_argument("--include-challenge-tests", action="store_true", help="MBPP: grade challenge tests too")
    parser.add_argument("--skip-bad", action="store_true", help="skip records that fail to convert (warn)")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    # None / False are the loaders' defaults: passing them changes nothing
    return {"start_date": args.start_date, "end_date": args.end_date, "difficulty": args.difficulty,
            "include_challenge_tests": args.include_challenge_tests, "skip_bad": args.skip_bad}


def _table(title: str, counts: Counter[str]) -> str:
    rows = "\n".join(f"  {name:<24} {count}" for name, count in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"{title}:\n{rows}"


@command("data inspect", help="Print counts by source/difficulty/test kind and the first problem of a set")
def configure_inspect(parser: argparse.ArgumentParser) -> Runner:
    _add_source_args(parser)

    def run(args: argparse.Namespace) -> int:
        from pgrpo.data.loaders import load_problems
        from pgrpo.data.schema import problem_to_dict

        problems = load_problems(args.source, args.format, split=args.split, limit=args.limit, **_options(args))
        print(f"{len(problems)} problems from {args.source}")
        if not problems:
            return 0
        print(_table("by source", Counter(p.source or "-" for p in problems)))
        print(_table("by difficulty", Counter(p.difficulty or "-" for p in problems)))
        print(_table("by test kind", Counter(p.tests.kind.value for p in problems)))
        counts = [p.tests.count for p in problems]
        print(f"tests per problem: min {min(counts)} / max {max(counts)}")
        print("first problem:")
        print(json.dumps(problem_to_dict(problems[0]), indent=2, ensure_ascii=False)[:4000])
        return 0

    return run


@command("data convert", help="Convert a problem set to pgrpo's own JSONL format")
def configure_convert(parser: argparse.ArgumentParser) -> Runner:
    _add_source_args(parser)
    parser.add_argument("--out", required=True, help="output .jsonl file (written atomically)")

    def run(args: argparse.Namespace) -> int:
        from itertools import islice

        from tqdm import tqdm

        from pgrpo.data.io import write_jsonl
        from pgrpo.data.loaders import iter_problems
        from pgrpo.data.schema import problem_to_dict

        # streamed: real LiveCodeBench private tests are large, never hold them all at once
        problems = iter_problems(args.source, args.format, split=args.split, **_options(args))
        if args.limit is not None:
            problems = islice(problems, max(args.limit, 0))
        bar = tqdm(problems, desc="converting", unit="problem", disable=None)
        count = write_jsonl(args.out, (problem_to_dict(p) for p in bar))
        print(f"wrote {count} problems to {args.out}")
        return 0

    return run
