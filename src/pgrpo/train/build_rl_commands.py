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
from pgrpo.data.build_rl import BuildConfig, SourceSpec, build_rl, summary_line, write_outputs
from pgrpo.data.decontaminate import EvalSpec
from pgrpo.data.eval_sources import CODE_EVAL_SOURCES
from pgrpo.data.problem import TestKind
from pgrpo.errors import DataError
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args
from pgrpo.sandbox.kinds import effective_limits
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
    """Every sandbox limit and the isolation a reference-solution verdict depends on, and each test kind's
    limits as its jobs get them (`effective_limits`: a limit given by flag stays over a kind's own): part
    of the journal key, so a rerun with other limits runs the solutions again."""
    fields = {k: v for k, v in sandbox.model_dump().items() if k not in _NOT_VERDICT_FIELDS}
    fields["per_kind"] = {kind.value: effective_limits(sandbox, kind) for kind in TestKind}
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
    BuildConfig.add_arguments(parser)
    parser.add_argument("--eval", action="append", default=[], metavar="NAME[=PATH][:START..END]",
                        help="an evaluation set's file (or window), repeatable: replaces that default's source "
                             "(humaneval_plus=FILE, mbpp=FILE, mbpp_plus=FILE, lcb=FILE:2024-08-01..2025-02-01) or "
                             f"adds a set (bigcodebench=FILE). Always decontaminated against: {', '.join(DEFAULT_EVALS)} "
                             "(hub sets need network or a FILE; a set that cannot be read is an error)")
    parser.add_argument("--skip-eval", action="append", default=[], metavar="NAME",
                        help="do not decontaminate against this default set (or all); the datasheet and "
                             "report say 'NOT decontaminated against: NAME'")
    parser.add_argument("--no-verify", action="store_true", help="do not run reference solutions")
    parser.add_argument("--recipe", default=None, metavar="RECIPE.yaml",
                        help="the training recipe: drop problems whose prompt (its policy's tokenizer and chat "
                             "template, its prompt style) is longer than its budget, grpo.vllm_max_model_length "
                             "(or the policy's max_position_embeddings without vLLM) - grpo.max_completion_length; "
                             "`pgrpo train` refuses a set with any")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_sandbox_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from pgrpo.verify import Verifier

        sandbox = sandbox_config_from_args(args)
        evals, skipped = eval_specs(args.eval, args.skip_eval)
        budget, counter = recipe_prompt_counter(args.recipe) if args.recipe else (None, None)
        config = BuildConfig.from_args(
            args, sources=[SourceSpec.parse(s) for s in args.sources], evals=evals, skipped_evals=skipped,
            check_tag=check_tag(sandbox), max_prompt_tokens=budget.max_prompt_tokens if budget else None,
            prompt_budget=f"{args.recipe}: {budget.describe()}" if budget else "")
        with Verifier(sandbox, progress=False) as verifier:
            runner = None if args.no_verify else verifier_runner(verifier)
            result = build_rl(config, runner, progress=not args.quiet, count_prompt_tokens=counter)
        paths = write_outputs(result, config)
        print(summary_line(result, paths, config))
        return 0

    return run
