"""`pgrpo data build-rl`: the RL training set from named public sources. Stages, cheapest first
(`build_rl`): load, filter, decontaminate (pgrpo.data.decontaminate), deduplicate, drop prompts over
the recipe's budget (an injected `PromptCounter`), run the reference solutions (an injected
`SolutionRunner`, journaled so a rerun runs only what is new); then `write_outputs`: the problems
kept, a report naming every problem left out and why, and a datasheet (md + json) of the counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from pgrpo.config import Flag, OptionsModel
from pgrpo.data.decontaminate import EvalIndex, EvalSpec, cases_hash, load_eval_index, statement_hash
from pgrpo.data.io import write_jsonl, write_text_atomic
from pgrpo.data.journal import Journal
from pgrpo.data.problem import Problem, parse_date
from pgrpo.data.schema import problem_to_dict
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
    """`pgrpo data build-rl`'s options and their flags; a bad value is a ConfigError naming its flag."""

    model_config = ConfigDict(frozen=True)

    sources: Annotated[
        tuple[SourceSpec, ...], Flag("--source", metavar="NAME:PATH_OR_HUB[#SPLIT]", repeat=True)
    ] = Field(min_length=1, description=(
        "a training source, repeatable: lcb:FILE, taco:BAAI/TACO#train, apps:FILE, "
        "codecontests:deepmind/code_contests#train, pgrpo:FILE (NAME picks the format)"))
    evals: Annotated[tuple[EvalSpec, ...], Flag("--eval", cli=False)]
    out: Path = Field(default=Path("data/train/code-rl.jsonl"),
                      description="output JSONL; report and datasheet are written next to it")
    # evaluation sets the user chose not to decontaminate against
    skipped_evals: Annotated[tuple[str, ...], Flag("--skip-eval", cli=False)] = ()
    before: dt.date | None = Field(default=None, description=(
        "keep only problems dated before this ISO date (LiveCodeBench releases before the evaluation "
        "window)"))
    min_tests: int = Field(default=5, ge=1, description="drop problems with fewer tests")
    ngram: int = Field(default=13, ge=1, description="statement n-gram length for decontamination")
    ngram_threshold: float = Field(default=0.2, gt=0.0, le=1.0, description=(
        "contaminated when this share of the shorter statement's n-grams is shared"))
    min_shared_tests: int = Field(default=3, description=(
        "contaminated when this many test cases (and half the problem's) are shared"))
    max_solution_seconds: float = Field(default=10.0, description=(
        "drop problems whose reference solution takes longer (all tests)"))
    require_solution: bool = Field(default=False, description=(
        "drop problems without a reference solution (default: keep them unverified)"))
    chunk: Annotated[int, Flag("the chunk size", cli=False)] = Field(default=64, ge=1)
    # what the runner's verdicts depend on (every sandbox limit, isolation): part of the journal key
    check_tag: Annotated[str, Flag(cli=False)] = ""
    # the training recipe's prompt budget (None: not measured) and where it comes from, for the report
    max_prompt_tokens: Annotated[int | None, Flag("the prompt budget", cli=False)] = Field(default=None, ge=1)
    prompt_budget: Annotated[str, Flag(cli=False)] = ""

    @field_validator("before", mode="before")
    @classmethod
    def _date(cls, value: Any) -> dt.date | None:
        return parse_date(value, "before")

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


@dataclass
class BuildResult:
    kept: list[tuple[str, Problem]] = field(default_factory=list)  # (source name, problem), output order
    removals: list[Removal] = field(default_factory=list)
    loaded: Counter[str] = field(default_factory=Counter)  # per source
    eval_sizes: dict[str, int] = field(default_factory=dict)  # per evaluation set label
    checks: Counter[str] = field(default_factory=Counter)  # reference runs: status -> count ("unverified")
    renamed: int = 0
    unreadable: dict[str, list[str]] = field(default_factory=dict)  # per source: records that did not convert

    def removed(self, stage: str) -> list[Removal]:
        return [r for r in self.removals if r.stage == stage]


def _load_sources(config: BuildConfig, result: BuildResult) -> Iterator[tuple[str, Problem]]:
    """Every source's problems (records that do not convert are listed); a task id an earlier
    source took becomes NAME/ID."""
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
    """The stages (module docstring). `runner=None`: reference solutions are not run (counted
    "unverified"); `index`: a prebuilt evaluation index (else read from config.evals);
    `count_prompt_tokens`: required when config.max_prompt_tokens is set. A duplicate (same
    statement or test set) loses to the first problem that reached that stage, even if that
    one's reference solution fails later; a failing or slower than `max_solution_seconds`
    solution is filtered."""
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
    """The survivors whose training prompt is at most `budget` tokens; the others removed."""
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


@dataclass(frozen=True)
class OutputPaths:
    data: Path
    report: Path
    datasheet_md: Path
    datasheet_json: Path

    @classmethod
    def next_to(cls, out: Path) -> OutputPaths:
        ends = (".report.txt", ".datasheet.md", ".datasheet.json")
        return cls(out, *(out.with_name(out.stem + end) for end in ends))


def datasheet(result: BuildResult, config: BuildConfig) -> dict[str, Any]:
    kept = Counter(name for name, _ in result.kept)
    problems = [p for _, p in result.kept]
    return {
        "output": str(config.out),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kept": len(result.kept),
        "sources": {s.name: {"spec": f"{s.path}" + (f"#{s.split}" if s.split else ""),
                             "loaded": result.loaded[s.name], "kept": kept[s.name],
                             "unreadable": len(result.unreadable.get(s.name, []))} for s in config.sources},
        "filtered": dict(Counter(r.reason for r in result.removed(FILTERED))),
        "duplicates": dict(Counter(r.reason for r in result.removed(DUPLICATE))),
        "contaminated": {label.split(" ")[0]: 0 for label in result.eval_sizes}
        | dict(Counter(r.reason for r in result.removed(CONTAMINATED))),
        "eval_sets": dict(result.eval_sizes),
        "not_decontaminated_against": list(config.skipped_evals),
        "reference_checks": dict(result.checks),
        "renamed_task_ids": result.renamed,
        "by_test_kind": dict(Counter(p.tests.kind.value for p in problems)),
        "by_difficulty": dict(Counter(p.difficulty or "-" for p in problems)),
        "settings": {"before": str(config.before) if config.before else None, "min_tests": config.min_tests,
                     "ngram": config.ngram, "ngram_threshold": config.ngram_threshold,
                     "min_shared_tests": config.min_shared_tests,
                     "max_solution_seconds": config.max_solution_seconds,
                     "require_solution": config.require_solution, "sandbox": config.check_tag,
                     "max_prompt_tokens": config.max_prompt_tokens,
                     "prompt_budget": config.prompt_budget or "prompts not measured (no --recipe)"},
    }


def _table(title: str, header: str, rows: dict[str, Any]) -> str:
    lines = [f"## {title}", "", f"| {header} |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows.items()] or ["| (none) | 0 |"]
    return "\n".join(lines) + "\n"


def datasheet_markdown(sheet: dict[str, Any]) -> str:
    sources = {name: f"{v['loaded']} loaded, {v['kept']} kept, {v['unreadable']} unreadable (`{v['spec']}`)"
               for name, v in sheet["sources"].items()}
    parts = [
        f"# Datasheet: {sheet['output']}\n",
        f"Built by `pgrpo data build-rl` on {sheet['created']}: **{sheet['kept']} problems** kept. "
        "Each removed problem is listed by name in the report next to this file.\n",
        *([f"**{_not_against(sheet['not_decontaminated_against'])}** (skipped with `--skip-eval`).\n"]
          if sheet["not_decontaminated_against"] else []),
        _table("Sources", "source | problems", sources),
        _table("Filtered", "reason | problems", sheet["filtered"]),
        _table("Duplicates removed", "rule | problems", sheet["duplicates"]),
        _table("Decontamination", "evaluation set | training problems removed", sheet["contaminated"]),
        _table("Evaluation sets checked", "evaluation set | problems", sheet["eval_sets"]),
        _table("Reference solutions (sandbox)", "status | problems", sheet["reference_checks"]),
        _table("Kept, by test kind", "kind | problems", sheet["by_test_kind"]),
        _table("Kept, by difficulty", "difficulty | problems", sheet["by_difficulty"]),
        _table("Settings", "setting | value", sheet["settings"]),
    ]
    return "\n".join(parts)


def _not_against(names: list[str] | tuple[str, ...]) -> str:
    return f"NOT decontaminated against: {', '.join(names)}"


def report_text(result: BuildResult, config: BuildConfig) -> str:
    total = sum(result.loaded.values())
    lines = [f"# pgrpo data build-rl: {config.out}",
             f"# kept {len(result.kept)} of {total} problems; removed {len(result.removals)}"]
    if config.skipped_evals:
        lines.append(f"# {_not_against(config.skipped_evals)} (--skip-eval)")
    for stage in (CONTAMINATED, DUPLICATE, FILTERED):
        lines += [f"removed  {r.task_id}  {r.stage}: {r.detail}" for r in result.removed(stage)]
    for name, messages in result.unreadable.items():
        lines += [f"skipped  {name}  unreadable: {message}" for message in messages]
    return "\n".join(lines) + "\n"


def write_outputs(result: BuildResult, config: BuildConfig) -> OutputPaths:
    paths = OutputPaths.next_to(config.out)
    paths.data.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(paths.data, (problem_to_dict(p) for _, p in result.kept))
    write_text_atomic(paths.report, report_text(result, config))
    sheet = datasheet(result, config)
    write_text_atomic(paths.datasheet_json, json.dumps(sheet, indent=2) + "\n")
    write_text_atomic(paths.datasheet_md, datasheet_markdown(sheet))
    return paths


def summary_line(result: BuildResult, paths: OutputPaths, config: BuildConfig | None = None) -> str:
    counts = Counter(r.stage for r in result.removals)
    removed = ", ".join(f"{counts[s]} {s}" for s in (CONTAMINATED, DUPLICATE, FILTERED))
    skipped = f"; {_not_against(config.skipped_evals)}" if config is not None and config.skipped_evals else ""
    return (f"kept {len(result.kept)} of {sum(result.loaded.values())} problems ({removed}); "
            f"wrote {paths.data}, {paths.report.name}, {paths.datasheet_md.name}, {paths.datasheet_json.name}"
            f"{skipped}")
