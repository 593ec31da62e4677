"""`pgrpo data build-rl`: builds the RL training set (pgrpo.data.build_rl) with this layer's adapters.

Here, not in `pgrpo.data`, because it runs reference solutions through `pgrpo.verify.Verifier` and
counts prompts with a recipe's tokenizer (`pgrpo.train.tasks`); owns the default
decontamination sets (`DEFAULT_EVALS`) and `check_tag`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgrpo.commands import Runner, command
from pgrpo.data.decontaminate import EvalSpec
from pgrpo.data.eval_sources import CODE_EVAL_SOURCES
from pgrpo.errors import DataError
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args
from pgrpo.sandbox.settings import SandboxConfig

if TYPE_CHECKING:
    from pgrpo.data.build_rl import PromptCounter, SolutionCheck, SolutionRunner
    from pgrpo.data.problem import Problem
    from pgrpo.train.tasks import PromptBudget
    from pgrpo.verify import Verifier

# the LiveCodeBench contest dates the recipes evaluate on (recipes/README.md); other windows: --eval lcb=...:A..B
LCB_EVAL_WINDOW = "2024-08-01..2025-02-01"
# every code evaluation set the recipes report (HumanEval(+), MBPP(+), LiveCodeBench in its window)
DEFAULT_EVALS = tuple(f"{name}:{LCB_EVAL_WINDOW}" if name == "lcb" else name for name in CODE_EVAL_SOURCES)
# SandboxConfig fields that do not change a verdict (where and how fast jobs run): not in check_tag
_NOT_VERDICT_FIELDS = frozenset({"workers", "url", "request_timeout_s", "retries"})


def check_tag(sandbox: SandboxConfig) -> str:
    """Every sandbox limit and the isolation a reference-solution verdict depends on: part of the
    journal key, so a rerun with other limits runs the solutions again."""
    fields = {k: v for k, v in sandbox.model_dump().items() if k not in _NOT_VERDICT_FIELDS}
    return json.dumps(fields, sort_keys=True)


def eval_specs(given: Sequence[str], skipped: Sequence[str]) -> tuple[tuple[EvalSpec, ...], tuple[str, ...]]:
    """The evaluation sets to decontaminate against and the defaults skipped (`--skip-eval`, `all`).

    Each default stays unless skipped; `--eval NAME...` replaces the default of that NAME (another
    file, window) or adds a set (bigcodebench=FILE). Never drops a set silently."""
    specs = {spec.name: spec for spec in (EvalSpec.parse(text) for text in DEFAULT_EVALS)}
    skip = set(specs) if "all" in skipped else set(skipped)
    unknown = skip - set(specs)
    if unknown:
        raise DataError(f"--skip-eval {', '.join(sorted(unknown))}: not a default evaluation set "
                        f"({', '.join(specs)}, or all)")
    for text in given:
        spec = EvalSpec.parse(text)
        if spec.name in skip:
            raise DataError(f"--eval {spec.name} and --skip-eval {spec.name} contradict each other")
        specs[spec.name] = spec
    return tuple(s for name, s in specs.items() if name not in skip), tuple(n for n in specs if n in skip)


def verifier_runner(verifier: Verifier) -> SolutionRunner:
    """Run each problem's reference solution (a whole program) against its tests."""
    from pgrpo.data.build_rl import SolutionCheck
    from pgrpo.sandbox.programs import program_from_solution
    from pgrpo.sandbox.types import Job

    def run(problems: Sequence[Problem]) -> list[SolutionCheck]:
        jobs = [Job(p, program_from_solution(p, p.canonical_solution or "")) for p in problems]
        return [SolutionCheck(r.passed, r.status.value, r.runtime_s, r.detail) for r in verifier.run_jobs(jobs)]

    return run


def recipe_prompt_counter(recipe: str) -> tuple[PromptBudget, PromptCounter]:
    """The recipe's prompt budget, and a counter of each problem's training-prompt tokens under it
    (the recipe is validated first, without contacting its services or needing its dataset)."""
    from pgrpo.config import ConfigError
    from pgrpo.train.config import load_train_config, validate_train_config
    from pgrpo.train.tasks import code_prompt, count_prompt_tokens, prompt_budget, recipe_policy

    config = load_train_config(recipe)
    try:
        kwargs = validate_train_config(config, check_paths=False)
        if config.task != "code":
            raise ConfigError(f"task: build-rl builds code problems; this recipe trains task {config.task!r}")
    except ConfigError as exc:
        raise ConfigError(f"--recipe {recipe}: {exc}") from None
    tokenizer, model_config, policy = recipe_policy(config)
    budget = prompt_budget(kwargs, model_config, policy)

    def count(problems: Sequence[Problem]) -> list[int]:
        return count_prompt_tokens(tokenizer, [code_prompt(p, tokenizer, config.data) for p in problems])

    return budget, count


@command("data build-rl", help="Build the RL training set from public sources: filtered, deduplicated, "
                               "decontaminated against the evaluation sets; report + datasheet")
def configure_build_rl(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--source", action="append", required=True, metavar="NAME:PATH_OR_HUB[#SPLIT]",
                        help="a training source, repeatable: lcb:FILE, taco:BAAI/TACO#train, apps:FILE, "
                             "codecontests:deepmind/code_contests#train, pgrpo:FILE (NAME picks the format)")
    parser.add_argument("--eval", action="append", default=[], metavar="NAME[=PATH][:START..END]",
                        help="an evaluation set's file (or window), repeatable: replaces that default's source "
                             "(humaneval_plus=FILE, mbpp=FILE, mbpp_plus=FILE, lcb=FILE:2024-08-01..2025-02-01) or "
                             f"adds a set (bigcodebench=FILE). Always decontaminated against: {', '.join(DEFAULT_EVALS)} "
                             "(hub sets need network or a FILE; a set that cannot be read is an error)")
    parser.add_argument("--skip-eval", action="append", default=[], metavar="NAME",
                        help="do not decontaminate against this default set (or all); the datasheet and "
                             "report say 'NOT decontaminated against: NAME'")
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
    parser.add_argument("--recipe", default=None, metavar="RECIPE.yaml",
                        help="the training recipe: drop problems whose prompt (its policy's tokenizer and chat "
                             "template, its prompt style) is longer than its budget, grpo.vllm_max_model_length "
                             "(or the policy's max_position_embeddings without vLLM) - grpo.max_completion_length; "
                             "`pgrpo train` refuses a set with any")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_sandbox_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from pgrpo.data.build_rl import (
            BuildConfig,
            SourceSpec,
            build_rl,
            parse_before,
            summary_line,
            write_outputs,
        )
        from pgrpo.verify import Verifier

        sandbox = sandbox_config_from_args(args)
        evals, skipped = eval_specs(args.eval, args.skip_eval)
        budget, counter = recipe_prompt_counter(args.recipe) if args.recipe else (None, None)
        config = BuildConfig(
            sources=tuple(SourceSpec.parse(s) for s in args.source), evals=evals, skipped_evals=skipped,
            out=Path(args.out), before=parse_before(args.before), min_tests=args.min_tests, ngram=args.ngram,
            ngram_threshold=args.ngram_threshold, min_shared_tests=args.min_shared_tests,
            max_solution_seconds=args.max_solution_seconds, require_solution=args.require_solution,
            check_tag=check_tag(sandbox), max_prompt_tokens=budget.max_prompt_tokens if budget else None,
            prompt_budget=f"{args.recipe}: {budget.describe()}" if budget else "")
        with Verifier(sandbox, progress=False) as verifier:
            runner = None if args.no_verify else verifier_runner(verifier)
            result = build_rl(config, runner, progress=not args.quiet, count_prompt_tokens=counter)
        paths = write_outputs(result, config)
        print(summary_line(result, paths, config))
        return 0

    return run
