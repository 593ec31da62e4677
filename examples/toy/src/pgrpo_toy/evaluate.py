"""Held-out evaluation of a toy policy: pass@1 in the sandbox and oracle reasoning quality.

Owns `ToyEval` and `evaluate_policy(model_dir, problems, ...)`: samples `n` responses per
problem (the P-GRPO prompt, temperature as given), judges them with the verifier every stage
uses (pgrpo.verify: format, sandbox pass/fail, parsed reasoning), and grades each reasoning with
the exact oracle. pass@1 = mean pass rate over all samples; reasoning quality = mean oracle quality.
`evaluate_samples` also returns every `JudgedSample` (the demo's readouts read them). Also
`sample_responses`, reused to hand the policy's own reasoning to the OD editor. The same `seed`
gives the same sampling random stream, so modes evaluated with one seed share their draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgrpo.data import Problem

if TYPE_CHECKING:
    from pgrpo.verify import BatchVerify


@dataclass(frozen=True)
class ToyEval:
    pass_at_1: float
    reasoning_quality: float
    factual: float
    rigor: float
    coherence: float
    format_rate: float
    samples: int


def sample_responses(model_dir: str, problems: Sequence[Problem], n: int, temperature: float = 1.0,
                     max_new_tokens: int = 120, seed: int = 0, batch_size: int = 64) -> list[list[str]]:
    """`n` sampled responses per problem (decoded without special tokens), from pgrpo's "hf" backend
    on CPU in float32, `batch_size` rows per forward. The backend reseeds torch per batch (seed +
    the batch's first row): how many random numbers a batch uses depends on the policy (generation
    stops when its longest sample ends), so one seed for all batches would give two policies
    different draws from the second batch on. Common random numbers need the same draws."""
    from pgrpo.data import build_messages
    from pgrpo.errors import PgrpoError
    from pgrpo.llm import ChatRequest, make_backend
    from pgrpo_toy.world import TOY_PROMPT_STYLE

    requests = [ChatRequest(build_messages(p, TOY_PROMPT_STYLE), temperature=temperature, top_p=1.0,
                            max_tokens=max_new_tokens, n=n, seed=seed * 1_000_003) for p in problems]
    with make_backend("hf", model_dir, device="cpu", dtype="float32", max_batch_size=batch_size) as backend:
        results = backend.generate(requests)
    failed = next((r for r in results if not r.ok), None)
    if failed is not None:
        raise PgrpoError(f"sampling from {model_dir}: {failed.error}")
    return [r.texts for r in results]


@dataclass(frozen=True)
class JudgedSample:
    """One sampled response of `problem` (its `index`-th sample) with the verifier's verdict."""

    problem: Problem
    index: int
    text: str
    reasoning: str
    passed: bool
    format_ok: bool


def judge_responses(problems: Sequence[Problem], responses: Sequence[Sequence[str]],
                    verify: BatchVerify | None = None) -> list[JudgedSample]:
    """Judge `responses[i]` (the samples of `problems[i]`) with `verify` (a fresh Verifier by default)."""
    items = [(p, t) for p, texts in zip(problems, responses) for t in texts]
    if verify is None:
        from pgrpo.verify import Verifier

        with Verifier() as verifier:
            verdicts = verifier(items)
    else:
        verdicts = verify(items)
    index = [i for texts in responses for i in range(len(texts))]
    return [JudgedSample(p, i, t, v.reasoning, bool(v.passed), bool(v.format_ok))
            for (p, t), i, v in zip(items, index, verdicts)]


def toy_eval(judged: Sequence[JudgedSample]) -> ToyEval:
    """pass@1, oracle quality (and its dimensions) and format rate over judged samples."""
    from pgrpo_toy.oracle import grade
    from pgrpo_toy.world import task_of

    grades = [grade(task_of(j.problem), j.reasoning) for j in judged]
    n = max(1, len(grades))

    def mean(values: Iterable[float]) -> float:
        return round(sum(values) / n, 4)

    return ToyEval(mean(j.passed for j in judged), mean(g.quality for g in grades),
                   mean(g.factual for g in grades), mean(g.rigor for g in grades),
                   mean(g.coherence for g in grades), mean(j.format_ok for j in judged), len(grades))


def grade_responses(problems: Sequence[Problem], responses: Sequence[Sequence[str]],
                    verify: BatchVerify | None = None) -> ToyEval:
    """Grade `responses[i]` (the samples of `problems[i]`) with `verify` (a fresh Verifier by default)."""
    return toy_eval(judge_responses(problems, responses, verify))


def evaluate_samples(model_dir: str, problems: Sequence[Problem], n: int = 2, temperature: float = 1.0,
                     seed: int = 0, verify: BatchVerify | None = None) -> tuple[ToyEval, list[JudgedSample]]:
    """`evaluate_policy` that also returns every judged sample (for the demo's readouts)."""
    judged = judge_responses(problems, sample_responses(model_dir, problems, n, temperature, seed=seed), verify)
    return toy_eval(judged), judged


def evaluate_policy(model_dir: str, problems: Sequence[Problem], n: int = 2, temperature: float = 1.0,
                    seed: int = 0, verify: BatchVerify | None = None) -> ToyEval:
    return evaluate_samples(model_dir, problems, n, temperature, seed, verify)[0]
