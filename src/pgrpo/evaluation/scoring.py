"""Checking evaluation samples: every sample goes through `pgrpo.verify`, the judgement training uses.

Owns `check_samples`, which turns (task, sample) pairs into `ResultRecord`s appended to
results.jsonl chunk by chunk, so an interrupted check keeps finished verdicts. Code runs in
the sandbox and math answers are compared by the same `Verifier` the RL outcome reward calls,
under the same limits (a test kind's own, e.g. BigCodeBench's "unittest": 241 s per task, come
from `pgrpo.sandbox.kinds.effective_limits` in the local pool and the service client alike), so
"passed" here means "reward 1" there.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgrpo.evaluation.benchmarks import EvalTask
from pgrpo.evaluation.lengths import TokenCounter
from pgrpo.evaluation.records import OutputDir, ResultRecord, SampleRecord
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.verify import Verifier

CHUNK = 64  # samples per verification call between checkpoints

Item = tuple[EvalTask, SampleRecord]


def check_samples(items: Sequence[Item], out: OutputDir, counter: TokenCounter,
                  sandbox: SandboxConfig | None = None, progress: bool = True) -> list[ResultRecord]:
    """Verify every (task, sample), appending each ResultRecord to `out` as its chunk finishes."""
    from tqdm.auto import tqdm

    records: list[ResultRecord] = []
    with tqdm(total=len(items), desc="checking", unit="sample", disable=not progress) as bar, \
            Verifier(sandbox or SandboxConfig()) as verifier:
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            verdicts = verifier([(task.task, sample.response) for task, sample in chunk])
            for (_, sample), v in zip(chunk, verdicts, strict=True):
                rec = ResultRecord(sample.benchmark, sample.task_id, sample.sample_index, v.passed, v.status,
                                   v.pass_fraction, v.format_ok, counter.count(v.reasoning),
                                   counter.count(v.answer), v.detail)
                out.append_result(rec)
                records.append(rec)
            bar.update(len(chunk))
    return records
