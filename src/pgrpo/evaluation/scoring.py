"""Checking samples: code in the sandbox, math by answer equivalence.

Owns `Verdict`, the `CHECKERS` registry (one checker per task kind) and `check_samples`,
which turns (task, sample) pairs into `ResultRecord`s appended to results.jsonl chunk by
chunk, so an interrupted check keeps finished verdicts.
Code goes through `pgrpo.sandbox.programs.program_from_response`, the same path as the
training outcome reward, so "passed" here means "reward 1" there. Math compares the last
\\boxed{} of the answer with the gold answer via `answers_match` (math-verify).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pgrpo.evaluation.benchmarks import EvalTask
from pgrpo.evaluation.lengths import TokenCounter
from pgrpo.evaluation.records import OutputDir, ResultRecord, SampleRecord
from pgrpo.registry import Registry

DETAIL_CHARS = 300  # enough to see the failing test; keeps results.jsonl small


@dataclass(frozen=True)
class CheckOptions:
    """Sandbox settings for code checking; `chunk` samples are checked per sandbox call."""

    workers: int = 0
    timeout_per_test_s: float = 4.0
    timeout_per_program_s: float = 30.0
    memory_mb: int = 4096
    chunk: int = 64


@dataclass(frozen=True)
class Verdict:
    """A checker's judgement of one sample; reasoning/answer are the texts whose length is reported."""

    passed: bool
    status: str
    pass_fraction: float
    format_ok: bool
    reasoning: str
    answer: str
    detail: str = ""


Item = tuple[EvalTask, SampleRecord]
Checker = Callable[[Sequence[Item], CheckOptions], Iterator[list[Verdict]]]
CHECKERS: Registry[Checker] = Registry("checker")


@CHECKERS.register("code")
def check_code(items: Sequence[Item], options: CheckOptions) -> Iterator[list[Verdict]]:
    """Run each sample's program against its problem's tests; yields verdicts per chunk, in order."""
    from pgrpo.parsing import parse_response
    from pgrpo.sandbox import Job, Sandbox, SandboxConfig
    from pgrpo.sandbox.programs import program_from_response

    config = SandboxConfig(workers=options.workers, timeout_per_test_s=options.timeout_per_test_s,
                           timeout_per_program_s=options.timeout_per_program_s, memory_mb=options.memory_mb)
    with Sandbox(config) as sandbox:
        for start in range(0, len(items), options.chunk):
            chunk = items[start:start + options.chunk]
            parsed = [parse_response(sample.response) for _, sample in chunk]
            jobs = [Job(task.problem, program_from_response(task.problem, sample.response)) for task, sample in chunk]
            results = sandbox.run(jobs, progress=False)
            yield [
                Verdict(r.passed, str(getattr(r.status, "value", r.status)), float(r.pass_fraction), p.format_ok,
                        p.reasoning, p.answer or p.code, r.detail[:DETAIL_CHARS])
                for p, r in zip(parsed, results)
            ]


def math_verdict(task: EvalTask, response: str) -> Verdict:
    """Judge one math response: the last \\boxed{} (in <answer> if present) against the gold answer."""
    from pgrpo.evaluation.math_answer import answers_match, extract_boxed
    from pgrpo.parsing import parse_response

    parsed = parse_response(response)
    region = parsed.answer or response
    prediction = extract_boxed(region) or (extract_boxed(response) if region is not response else None)
    reasoning = parsed.reasoning if "</think>" in response else response
    if prediction is None:
        return Verdict(False, "no_answer", 0.0, False, reasoning, "", "no \\boxed{} answer found")
    passed = bool(answers_match(prediction, task.math.answer))
    detail = "" if passed else f"predicted {prediction[:100]!r}, gold {task.math.answer[:100]!r}"
    return Verdict(passed, "passed" if passed else "wrong_answer", float(passed), True, reasoning, prediction, detail)


@CHECKERS.register("math")
def check_math(items: Sequence[Item], options: CheckOptions) -> Iterator[list[Verdict]]:
    for start in range(0, len(items), options.chunk):
        yield [math_verdict(task, sample.response) for task, sample in items[start:start + options.chunk]]


def check_samples(items: Sequence[Item], out: OutputDir, counter: TokenCounter,
                  options: CheckOptions | None = None, progress: bool = True) -> list[ResultRecord]:
    """Check every (task, sample), appending each ResultRecord to `out` as its chunk finishes."""
    from tqdm.auto import tqdm

    options = options or CheckOptions()
    by_kind: dict[str, list[Item]] = {}
    for item in items:
        by_kind.setdefault(item[0].kind, []).append(item)
    records: list[ResultRecord] = []
    with tqdm(total=len(items), desc="checking", unit="sample", disable=not progress) as bar:
        for kind, group in by_kind.items():
            offset = 0
            for verdicts in CHECKERS.get(kind)(group, options):
                for (_task, sample), v in zip(group[offset:offset + len(verdicts)], verdicts):
                    rec = ResultRecord(sample.benchmark, sample.task_id, sample.sample_index, v.passed, v.status,
                                       v.pass_fraction, v.format_ok, counter.count(v.reasoning),
                                       counter.count(v.answer), v.detail)
                    out.append_result(rec)
                    records.append(rec)
                offset += len(verdicts)
                bar.update(len(verdicts))
    return records
