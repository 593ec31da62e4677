"""Command-line arguments shared by the commands that read a problem set or render prompts (`rm pairs`,
`bench build`, `evaluate`): problem selection and the prompt style (`PromptStyleName`, an options field)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field

if TYPE_CHECKING:
    import argparse

    from pgrpo.data.problem import Problem


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--problems", required=True, help="problem source: humaneval, or a json/jsonl/parquet file")
    parser.add_argument("--format", default=None, help="problem format (default: autodetect)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N problems")
    parser.add_argument("--start-date", default=None, help="keep problems with contest_date >= this (ISO)")
    parser.add_argument("--end-date", default=None, help="keep problems with contest_date <= this (ISO)")
    parser.add_argument("--difficulty", default=None, help="comma list, e.g. easy,medium")


def checked_prompt_style(name: str) -> str:
    """`name` if it is a registered prompt style (plugins' styles included)."""
    from pgrpo.data.prompts import get_style

    get_style(name)  # ConfigError naming the known styles
    return name


PromptStyleName = Annotated[str, AfterValidator(checked_prompt_style), Field(
    description="how the generator is asked: a registered prompt style (pgrpo, plain, or a plugin's)")]


def load_selected_problems(args: argparse.Namespace) -> list[Problem]:
    from pgrpo.data.loaders import load_problems

    options = {k: v for k, v in (("start_date", args.start_date), ("end_date", args.end_date),
                                 ("difficulty", args.difficulty)) if v}
    return load_problems(args.problems, args.format, limit=args.limit, **options)
