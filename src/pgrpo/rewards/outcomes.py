"""The real outcome and thinking back ends behind `RewardEvaluator`, per task.

Owns the adapters that turn pgrpo's engines into the evaluator's injected functions:
- code: R_o = the sandbox verdict (`ExecResult.passed`) of `program_from_response(problem,
  completion)`, the same program construction evaluation uses, so reward 1 means "passed";
- math: R_o = answer equivalence (`pgrpo.verify.math_answer.answers_match`) of the last
  \\boxed{} in the completion's answer against the gold answer; the math format reward is
  `<think>..</think><answer>..\\boxed{..}..</answer>` (the parser's format_ok is code-only);
- thinking: R_t = `RewardScorer.score` (sigmoid of the RM's scalar) on (statement, reasoning),
  plus the completion's code only for an RM trained with code sides (`include_code`; by
  default read from the RM's `pgrpo_rm.json`, else reasoning only), so the RM sees exactly
  the layout `pgrpo rm pairs` / `rm train` gave it.
Heavy engines are imported lazily so the reward package stays cheap to import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.rewards.batch import Outcome, OutcomeFn, Target, ThinkingFn, ThinkingQuery


def sandbox_outcome_fn(sandbox: Any, *, progress: bool = False) -> OutcomeFn:
    """Outcome via a running `pgrpo.sandbox.Sandbox`; one job per completion, one `run` per batch."""
    from pgrpo.sandbox import Job
    from pgrpo.sandbox.programs import program_from_response

    def outcome(targets: Sequence[Target], completions: Sequence[str]) -> list[Outcome]:
        jobs = [Job(t.payload, program_from_response(t.payload, c)) for t, c in zip(targets, completions)]
        results = sandbox.run(jobs, progress=progress)
        return [Outcome(r.passed, r.pass_fraction, str(getattr(r.status, "value", r.status))) for r in results]

    return outcome


_MATH_FORMAT = re.compile(r"\A\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


@dataclass(frozen=True)
class MathParsed:
    """A math completion split into reasoning and answer; `format_ok` is the math R_f."""

    reasoning: str
    answer: str
    format_ok: bool


def parse_math_response(text: str, *, think_prefilled: bool = False) -> MathParsed:
    """Split a math completion. format_ok: each tag once, in order, non-empty reasoning, a \\boxed{} answer."""
    if think_prefilled:
        text = "<think>" + text
    match = _MATH_FORMAT.match(text)
    if match is None or any(text.count(tag) != 1 for tag in _TAGS):
        # Best effort for the RM and the answer checker when the structure is broken.
        reasoning = text.split("</think>", 1)[0].replace("<think>", "").strip()
        answer = text.split("<answer>", 1)[-1].replace("</answer>", "").strip()
        return MathParsed(reasoning, answer, False)
    reasoning, answer = match.group("think").strip(), match.group("answer").strip()
    return MathParsed(reasoning, answer, bool(reasoning) and "\\boxed" in answer)


def math_outcome_fn(*, think_prefilled: bool = False) -> OutcomeFn:
    """Outcome by answer equivalence of the completion's last \\boxed{} against `target.payload.answer`."""
    from pgrpo.verify.math_answer import answers_match, extract_boxed

    def outcome(targets: Sequence[Target], completions: Sequence[str]) -> list[Outcome]:
        out = []
        for target, text in zip(targets, completions):
            predicted = extract_boxed(parse_math_response(text, think_prefilled=think_prefilled).answer)
            gold = getattr(target.payload, "answer", target.payload)
            ok = bool(predicted) and bool(answers_match(predicted, str(gold)))
            out.append(Outcome(ok, 1.0 if ok else 0.0, "passed" if ok else ("no_answer" if not predicted else "wrong")))
        return out

    return outcome


def rm_include_code(scorer: Any) -> bool:
    """What the scorer's RM was trained on: its directory's pgrpo_rm.json, else reasoning only."""
    from pgrpo.rm.pairs import read_rm_meta

    path = getattr(getattr(getattr(scorer, "model", None), "config", None), "name_or_path", "") or ""
    meta = read_rm_meta(path) if path else None
    return bool(meta and meta.include_code)


def rm_thinking_fn(scorer: Any, include_code: bool | None = None) -> ThinkingFn:
    """Thinking reward from a `pgrpo.rm.scoring.RewardScorer` (scores already sigmoid'ed to [0, 1]).

    include_code: send each completion's code too; None = as recorded with the RM (`rm_include_code`).
    """
    from pgrpo.rm.scoring import RMItem

    with_code = rm_include_code(scorer) if include_code is None else include_code

    def thinking(queries: Sequence[ThinkingQuery]) -> list[float]:
        items = [RMItem(q.statement, q.reasoning, q.code if with_code else None) for q in queries]
        return [float(s) for s in scorer.score(items)]

    return thinking
