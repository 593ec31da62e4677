"""Checking evaluation samples: every sample goes through `pgrpo.verify`, the judgement training uses.

Owns `check_samples`, which turns (task, sample) pairs into `ResultRecord`s appended to
results.jsonl chunk by chunk, so an interrupted check keeps finished verdicts. Code runs in
the sandbox and math answers are compared by the same `Verifier` the RL outcome reward calls,
so "passed" here means "reward 1" there. A test kind with limits of its own (BigCodeBench's
"unittest": 240 s per task) gets them from the sandbox (pgrpo.sandbox.types.KIND_LIMITS); with
`sandbox.url` they travel with the requests, and a service that does not allow them gets an
error saying how to start one that does.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence

from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import EvalTask
from pgrpo.evaluation.bigcodebench import SERVE_HINT
from pgrpo.evaluation.lengths import TokenCounter
from pgrpo.evaluation.records import OutputDir, ResultRecord, SampleRecord
from pgrpo.sandbox.remote import ServiceMismatch
from pgrpo.sandbox.types import KIND_LIMITS, SandboxConfig, job_limits
from pgrpo.verify import Task, Verifier

CHUNK = 64  # samples per verification call between checkpoints
DETAIL_CHARS = 300  # enough to see the failing test; keeps results.jsonl small

Item = tuple[EvalTask, SampleRecord]


def _task(task: EvalTask) -> Task:
    verified = task.problem if task.problem is not None else task.math
    if verified is None:
        raise ValueError(f"{task.benchmark}/{task.task_id}: evaluation task has neither a problem nor a math item")
    return verified


def _config_for(task: EvalTask, base: SandboxConfig) -> SandboxConfig:
    """A local pool applies a test kind's own limits itself; a service client sends them."""
    kind = task.problem.tests.kind if task.problem is not None else None
    if not base.urls or kind not in KIND_LIMITS:
        return base
    config = dataclasses.replace(base, **KIND_LIMITS[kind].apply(job_limits(base), base.explicit))
    object.__setattr__(config, "explicit", base.explicit)  # replace() resets it
    return config


@contextlib.contextmanager
def _explained(config: SandboxConfig, base: SandboxConfig) -> Iterator[None]:
    """A service refusing limits the user never set: say they are the benchmark's, and how to serve them."""
    try:
        yield
    except ServiceMismatch as exc:
        if config == base:
            raise
        raise PgrpoError(f"{exc}. These limits are BigCodeBench's own (the 'unittest' test kind), not a flag you "
                         f"set: start the service with `{SERVE_HINT}`, or set lower limits explicitly "
                         f"(--sandbox-timeout-per-program-s, --sandbox-memory-mb)") from None


def check_samples(items: Sequence[Item], out: OutputDir, counter: TokenCounter,
                  sandbox: SandboxConfig | None = None, progress: bool = True) -> list[ResultRecord]:
    """Verify every (task, sample), appending each ResultRecord to `out` as its chunk finishes."""
    from tqdm.auto import tqdm

    base = sandbox or SandboxConfig()
    groups: dict[SandboxConfig, list[Item]] = {}
    for item in items:
        groups.setdefault(_config_for(item[0], base), []).append(item)
    records: list[ResultRecord] = []
    with tqdm(total=len(items), desc="checking", unit="sample", disable=not progress) as bar:
        for config, group in groups.items():
            with _explained(config, base), Verifier(config) as verifier:
                for start in range(0, len(group), CHUNK):
                    chunk = group[start:start + CHUNK]
                    verdicts = verifier([(_task(task), sample.response) for task, sample in chunk])
                    for (_, sample), v in zip(chunk, verdicts, strict=True):
                        rec = ResultRecord(sample.benchmark, sample.task_id, sample.sample_index, v.passed, v.status,
                                           v.pass_fraction, v.format_ok, counter.count(v.reasoning),
                                           counter.count(v.answer), v.detail[:DETAIL_CHARS])
                        out.append_result(rec)
                        records.append(rec)
                    bar.update(len(chunk))
    return records
