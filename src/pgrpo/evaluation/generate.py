"""Generating evaluation samples, appended to samples.jsonl as they come, resumable.

Owns `plan_generation` (which (task, sample_index) still need a response, and which can be
copied from a benchmark with the identical prompt, e.g. HumanEval -> HumanEval+ as EvalPlus
does) and `generate_samples` (runs a `pgrpo.llm` ChatBackend chunk by chunk). A backend
error on one request is counted and left for the next run; it never loses finished samples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pgrpo.evaluation.benchmarks import EvalTask, task_messages
from pgrpo.evaluation.records import OutputDir, RunSettings, SampleRecord

if TYPE_CHECKING:
    from pgrpo.llm.base import ChatBackend


@dataclass(frozen=True)
class Pending:
    """A task still missing samples `indices`, with the messages to send."""

    task: EvalTask
    messages: list[dict[str, str]]
    indices: tuple[int, ...]


@dataclass
class GenerationReport:
    generated: int = 0
    reused: int = 0
    already_done: int = 0
    failed_requests: int = 0
    errors: list[str] = field(default_factory=list)


def _prompt_key(task_id: str, messages: list[dict[str, str]]) -> tuple[str, str]:
    return task_id, json.dumps(messages, sort_keys=True, ensure_ascii=False)


def plan_generation(tasks: Sequence[EvalTask], existing: Sequence[SampleRecord], n: int,
                    style: str) -> tuple[list[Pending], list[SampleRecord], int]:
    """-> (pending requests, samples to copy from an identical prompt, count already done)."""
    done = {s.key for s in existing}
    by_prompt: dict[tuple[str, str], dict[int, SampleRecord]] = {}
    for s in existing:
        by_prompt.setdefault(_prompt_key(s.task_id, s.prompt), {}).setdefault(s.sample_index, s)
    pending: list[Pending] = []
    copies: list[SampleRecord] = []
    already = 0
    for task in tasks:
        messages = task_messages(task, style)
        reusable = by_prompt.get(_prompt_key(task.task_id, messages), {})
        missing = []
        for i in range(n):
            if (task.benchmark, task.task_id, i) in done:
                already += 1
            elif i in reusable:
                copies.append(SampleRecord(task.benchmark, task.task_id, i, messages, reusable[i].response))
            else:
                missing.append(i)
        if missing:
            pending.append(Pending(task, messages, tuple(missing)))
    return pending, copies, already


def generate_samples(tasks: Sequence[EvalTask], backend: ChatBackend, out: OutputDir, settings: RunSettings,
                     progress: bool = True) -> GenerationReport:
    """Make sure every task has `settings.n` samples in `out`, generating only what is missing.

    `backend` is a pgrpo.llm ChatBackend (wrap it in CachedBackend for crash safety).
    """
    from tqdm.auto import tqdm

    from pgrpo.llm.types import ChatRequest

    report = GenerationReport()
    out.prepare_append()
    pending, copies, report.already_done = plan_generation(tasks, out.read_samples(), settings.n,
                                                           settings.prompt_style)
    for rec in copies:
        out.append_sample(rec)
    report.reused = len(copies)
    total = sum(len(p.indices) for p in pending)
    chunk = max(1, int(getattr(backend, "chunk_size", 8)))
    with tqdm(total=total, desc="generating", unit="sample", disable=not progress or total == 0) as bar:
        for start in range(0, len(pending), chunk):
            group = pending[start:start + chunk]
            requests = [ChatRequest(p.messages, temperature=settings.temperature, top_p=settings.top_p,
                                    max_tokens=settings.max_tokens, n=len(p.indices),
                                    seed=settings.seed + p.indices[0]) for p in group]
            results = backend.generate(requests)
            for p, res in zip(group, results):
                if not res.ok or len(res.texts) != len(p.indices):
                    report.failed_requests += 1
                    if len(report.errors) < 5:
                        report.errors.append(f"{p.task.benchmark} {p.task.task_id}: {res.error}")
                    continue
                for index, text in zip(p.indices, res.texts):
                    out.append_sample(SampleRecord(p.task.benchmark, p.task.task_id, index, p.messages, text))
                    report.generated += 1
            bar.update(sum(len(p.indices) for p in group))
    return report
