"""Checking evaluation samples: every sample goes through `pgrpo.verify`, the judgement training uses.

Owns `check_samples`, which turns (task, sample) pairs into `ResultRecord`s appended to
results.jsonl chunk by chunk, so an interrupted check keeps finished verdicts. Code runs in
the sandbox and math answers are compared by the same `Verifier` the RL outcome reward calls,
so "passed" here means "reward 1" there. A benchmark with limits of its own (BigCodeBench's
240 s per task) is checked with its sandbox settings (`BenchmarkSpec.sandbox_config`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pgrpo.evaluation.benchmarks import EvalTask, resolve_spec
from pgrpo.evaluation.lengths import TokenCounter
from pgrpo.evaluation.records import OutputDir, ResultRecord, SampleRecord
from pgrpo.sandbox.types import SandboxConfig
from pgrpo.verify import Task, Verifier

CHUNK = 64  # samples per verification call between checkpoints
DETAIL_CHARS = 300  # enough to see the failing test; keeps results.jsonl small

Item = tuple[EvalTask, SampleRecord]


def _task(task: EvalTask) -> Task:
    verified = task.problem if task.problem is not None else task.math
    if verified is None:
        raise ValueError(f"{task.benchmark}/{task.task_id}: evaluation task has neither a problem nor a math item")
    return verified


def check_samples(items: Sequence[Item], out: OutputDir, counter: TokenCounter,
                  sandbox: SandboxConfig | None = None, progress: bool = True) -> list[ResultRecord]:
    """Verify every (task, sample), appending each ResultRecord to `out` as its chunk finishes."""
    from tqdm.auto import tqdm

    base = sandbox or SandboxConfig()
    groups: dict[SandboxConfig, list[Item]] = {}
    configs: dict[str, SandboxConfig] = {}
    for item in items:
        name = item[0].benchmark
        if name not in configs:
            configs[name] = resolve_spec(name).sandbox_config(base)
        groups.setdefault(configs[name], []).append(item)
    records: list[ResultRecord] = []
    with tqdm(total=len(items), desc="checking", unit="sample", disable=not progress) as bar:
        for config, group in groups.items():
            with Verifier(config) as verifier:
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
