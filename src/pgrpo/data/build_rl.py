"""`pgrpo data build-rl`'s pipeline: the RL training set from named public sources.

Owns `SourceSpec` (`--source NAME:PATH_OR_HUB[#SPLIT]`), `BuildConfig`, the stages and their
order, and `BuildResult` (what was kept, what was removed and why). The stages, cheapest first:

1. load every source through `pgrpo.data.loaders` (NAME picks the format: lcb, taco/apps,
   codecontests, pgrpo, or any registered format; another NAME autodetects; records that do not
   convert are skipped and listed in the report); `--before DATE`
   drops problems whose contest date is not before DATE (LiveCodeBench releases before the
   evaluation window); a task id already taken by an earlier source becomes `NAME/ID`;
2. filter: fewer than `min_tests` tests, or EvalPlus-style tests without a reference solution;
3. decontaminate against every evaluation set (`pgrpo.data.decontaminate.EvalIndex`);
4. deduplicate: the same normalized statement, or the same test set, as an earlier problem that
   reached this stage (the first one wins, even if its reference solution later fails);
4b. with a prompt-token budget (`max_prompt_tokens`: `--recipe`, pgrpo.train.prompt_budget), drop the
   problems whose training prompt is longer, counted by the injected `PromptCounter` (the policy's
   tokenizer and chat template: this layer knows neither);
5. run each remaining reference solution against its tests (the injected `SolutionRunner`; the
   command wires it to `pgrpo.verify`'s sandbox, since this layer never runs code itself):
   a failing solution, or one slower than `max_solution_seconds`, is filtered. Results are
   journaled (`<out>.refcheck.jsonl`, `pgrpo.data.journal`), so a rerun only runs what is new.

Writing the output, the report and the datasheet is `pgrpo.data.build_rl_report`'s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import ConfigDict, Field

from pgrpo.config import OptionsModel
from pgrpo.data.decontaminate import EvalIndex, EvalSpec, cases_hash, load_eval_index, statement_hash
from pgrpo.data.journal import Journal
from pgrpo.data.problem import Problem, parse_date
from pgrpo.errors import DataError

# source NAME -> loader format (names not listed here: a registered format of that name, else autodetect)
SOURCE_FORMATS = {"lcb": "lcb", "livecodebench": "lcb", "taco": "apps", "apps": "apps",
                  "codecontests": "codecontests", "code_contests": "codecontests", "pgrpo": "pgrpo"}
FILTERED, DUPLICATE, CONTAMINATED = "filtered", "duplicate", "contaminated"


@dataclass(frozen=True)
class SourceSpec:
    """`NAME:PATH_OR_HUB[#SPLIT]`: one training source; NAME labels it in the report."""

    name: str
    path: str
    split: str | None = None

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        name, sep, rest = text.partition(":")
        if not sep or not name.strip() or not rest.strip():
            raise DataError(f"--source {text!r}: expected NAME:PATH_OR_HUB[#SPLIT] (e.g. taco:BAAI/TACO#train)")
        path, _, split = rest.partition("#")
        return cls(name.strip(), path.strip(), split.strip() or None)

    def format(self) -> str | None:
        from pgrpo.data.loaders import LOADERS

        lowered = self.name.lower()
        if lowered in SOURCE_FORMATS:
            return SOURCE_FORMATS[lowered]
        return lowered if lowered in LOADERS else None


@dataclass(frozen=True)
class SolutionCheck:
    """A reference solution's run against its problem's tests."""

    passed: bool
    status: str
    runtime_s: float = 0.0
    detail: str = ""


SolutionRunner = Callable[[Sequence[Problem]], list[SolutionCheck]]
# problems -> tokens of each one's training prompt, same order
PromptCounter = Callable[[Sequence[Problem]], list[int]]


class BuildConfig(OptionsModel):
    """`pgrpo data build-rl`'s options; a bad value is a ConfigError naming its flag."""

    model_config = ConfigDict(frozen=True)
    FLAGS: ClassVar[dict[str, str]] = {"sources": "--source", "evals": "--eval", "skipped_evals": "--skip-eval",
                                       "chunk": "the chunk size", "max_prompt_tokens": "the prompt budget"}

    sources: tuple[SourceSpec, ...] = Field(min_length=1)  # at least one --source
    evals: tuple[EvalSpec, ...]
    out: Path
    skipped_evals: tuple[str, ...] = ()  # evaluation sets the user chose not to decontaminate against
    before: dt.date | None = None
    min_tests: int = Field(default=5, ge=1)
    ngram: int = Field(default=13, ge=1)
    ngram_threshold: float = Field(default=0.2, gt=0.0, le=1.0)
    min_shared_tests: int = 3
    max_solution_seconds: float = 10.0
    require_solution: bool = False
    chunk: int = Field(default=64, ge=1)
    check_tag: str = ""  # what the runner's verdicts depend on (every sandbox limit, isolation): part of the journal key
    max_prompt_tokens: int | None = Field(default=None, ge=1)  # the training recipe's prompt budget (None: not measured)
    prompt_budget: str = ""  # where that budget comes from, for the report and datasheet

    @property
    def journal_path(self) -> Path:
        return self.out.with_name(self.out.stem + ".refcheck.jsonl")


@dataclass(frozen=True)
class Removal:
    """One problem left out: `stage` is filtered / duplicate / contaminated; `reason` its counter key."""

    task_id: str
    source: str
    stage: str
    reason: str
    detail: str

    def format(self) -> str:
        return f"removed  {self.task_id}  {self.stage}: {self.detail}"


@dataclass
class BuildResult:
    kept: list[tuple[str, Problem]] = field(default_factory=list)  # (source name, problem), output order
    removals: list[Removal] = field(default_factory=list)
    loaded: Counter[str] = field(default_factory=Counter)  # per source
    eval_sizes: dict[str, int] = field(default_factory=dict)  # per evaluation set label
    checks: Counter[str] = field(default_factory=Counter)  # reference runs: status -> count ("unverified")
    renamed: int = 0
    unreadable: dict[str, list[str]] = field(default_factory=dict)  # per source: records that did not convert

    def kept_by_source(self) -> Counter[str]:
        return Counter(name for name, _ in self.kept)

    def removed(self, stage: str) -> list[Removal]:
        return [r for r in self.removals if r.stage == stage]


def _load_sources(config: BuildConfig, result: BuildResult) -> Iterator[tuple[str, Problem]]:
    from pgrpo.data.loaders import iter_problems

    taken: set[str] = set()
    for spec in config.sources:
        bad: list[str] = []
        for problem in iter_problems(spec.path, spec.format(), split=spec.split, skip_bad=True, bad=bad):
            result.loaded[spec.name] += 1
            if problem.task_id in taken:
                problem = dataclasses.replace(problem, task_id=f"{spec.name}/{problem.task_id}")
                result.renamed += 1
                if problem.task_id in taken:
                    raise DataError(f"--source {spec.name}: task id {problem.task_id!r} appears twice")
            taken.add(problem.task_id)
            yield spec.name, problem
        result.unreadable[spec.name] = bad


def _filter_reason(problem: Problem, config: BuildConfig) -> tuple[str, str] | None:
    date = problem.contest_date
    if config.before is not None and date is not None and date >= config.before:
        return "after_before", f"contest_date {date} is not before --before {config.before}"
    if problem.tests.count < config.min_tests:
        return "min_tests", f"too few tests ({problem.tests.count} < {config.min_tests})"
    if problem.canonical_solution is None and (config.require_solution or problem.tests.outputs_from_canonical):
        return "no_solution", "no reference solution"
    return None


def _check_key(problem: Problem, tag: str) -> str:
    text = json.dumps([problem.task_id, problem.canonical_solution, cases_hash(problem), tag])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _run_checks(pending: list[tuple[str, Problem]], runner: SolutionRunner, config: BuildConfig,
                progress: bool) -> dict[str, SolutionCheck]:
    """task_id -> check of each pending problem's reference solution; journaled, in chunks."""
    from tqdm import tqdm

    journal = Journal(config.journal_path, key="key", strict=False)
    keys = {p.task_id: _check_key(p, config.check_tag) for _, p in pending}
    todo = [p for _, p in pending if not journal.done(keys[p.task_id])]
    with tqdm(total=len(pending), initial=len(pending) - len(todo), desc="reference solutions",
              unit="problem", disable=not progress) as bar:
        for start in range(0, len(todo), config.chunk):
            chunk = todo[start:start + config.chunk]
            checks = runner(chunk)
            if len(checks) != len(chunk):
                raise DataError(f"solution runner returned {len(checks)} results for {len(chunk)} problems")
            for problem, check in zip(chunk, checks, strict=True):
                journal.append({"key": keys[problem.task_id], "task_id": problem.task_id,
                                **dataclasses.asdict(check)})
            bar.update(len(chunk))
    out = {}
    for task_id, key in keys.items():
        record = journal.get(key) or {}
        out[task_id] = SolutionCheck(record.get("passed") is True, str(record.get("status", "missing")),
                                     float(record.get("runtime_s", 0.0)), str(record.get("detail", "")))
    return out


def build_rl(config: BuildConfig, runner: SolutionRunner | None, *, progress: bool = False,
             index: EvalIndex | None = None, count_prompt_tokens: PromptCounter | None = None) -> BuildResult:
    """Run stages 1-5 (module docstring). `runner=None`: reference solutions are not run
    (counted "unverified"). `index`: a prebuilt evaluation index (else read from config.evals).
    `count_prompt_tokens`: required when config.max_prompt_tokens is set."""
    if (config.max_prompt_tokens is None) != (count_prompt_tokens is None):
        raise ValueError("build_rl: a prompt budget needs a prompt counter, and a counter a budget")
    result = BuildResult()
    if index is None:
        index, result.eval_sizes = load_eval_index(config.evals, n=config.ngram,
                                                   ngram_threshold=config.ngram_threshold,
                                                   min_shared_tests=config.min_shared_tests)
    by_statement: dict[str, str] = {}
    by_tests: dict[str, str] = {}
    survivors: list[tuple[str, Problem]] = []

    def remove(name: str, problem: Problem, stage: str, reason: str, detail: str) -> None:
        result.removals.append(Removal(problem.task_id, name, stage, reason, detail))

    for name, problem in _load_sources(config, result):
        filtered = _filter_reason(problem, config)
        if filtered is not None:
            remove(name, problem, FILTERED, *filtered)
            continue
        hit = index.match(problem)
        if hit is not None:
            remove(name, problem, CONTAMINATED, hit.eval_set, hit.format())
            continue
        s_hash, t_hash = statement_hash(problem.statement), cases_hash(problem)
        if s_hash in by_statement:
            remove(name, problem, DUPLICATE, "same_statement", f"of {by_statement[s_hash]} (same statement)")
            continue
        if t_hash in by_tests:
            remove(name, problem, DUPLICATE, "same_tests", f"of {by_tests[t_hash]} (same test set)")
            continue
        by_statement[s_hash], by_tests[t_hash] = problem.task_id, problem.task_id
        survivors.append((name, problem))

    if count_prompt_tokens is not None and config.max_prompt_tokens is not None:
        survivors = _fitting(survivors, count_prompt_tokens, config.max_prompt_tokens, config.prompt_budget, remove)
    with_solution = [(n, p) for n, p in survivors if p.canonical_solution is not None]
    checks = _run_checks(with_solution, runner, config, progress) if runner is not None and with_solution else {}
    for name, problem in survivors:
        check = checks.get(problem.task_id)
        if check is None:
            result.checks["unverified"] += 1
            result.kept.append((name, problem))
            continue
        result.checks[check.status] += 1
        if not check.passed:
            remove(name, problem, FILTERED, "solution_failed",
                   f"reference solution {check.status}: {check.detail.strip()[:120]}".rstrip(": "))
        elif check.runtime_s > config.max_solution_seconds:
            remove(name, problem, FILTERED, "solution_slow",
                   f"reference solution took {check.runtime_s:.1f}s > {config.max_solution_seconds:g}s")
        else:
            result.kept.append((name, problem))
    return result


def _fitting(survivors: list[tuple[str, Problem]], count: PromptCounter, budget: int, where: str,
             remove: Callable[[str, Problem, str, str, str], None]) -> list[tuple[str, Problem]]:
    """The survivors whose training prompt is at most `budget` tokens; the others removed (stage 4b)."""
    counts = count([p for _, p in survivors])
    if len(counts) != len(survivors):
        raise DataError(f"prompt counter returned {len(counts)} counts for {len(survivors)} problems")
    kept = []
    for (name, problem), tokens in zip(survivors, counts, strict=True):
        if tokens > budget:
            remove(name, problem, FILTERED, "prompt_too_long", f"prompt is {tokens} tokens, over the budget of "
                                                               f"{budget}{f' ({where})' if where else ''}")
        else:
            kept.append((name, problem))
    return kept


def parse_before(text: str | None) -> dt.date | None:
    return parse_date(text, "--before")
