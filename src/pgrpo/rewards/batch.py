"""Per-batch reward evaluation shared by the three TRL reward functions.

Owns `RewardEvaluator`: given a batch of (task id, completion text) it parses each
completion once, computes the outcome reward once per completion (the sandbox for code,
answer equivalence for math: an injected `outcome_fn`), asks the reasoning reward model
(an injected `thinking_fn`) only for the completions the reward mode needs (in `posterior`
mode only those with R_o = 1), composes the total with `pgrpo.rewards.components.compose`
and caches the result, so TRL's "format", "outcome" and "thinking" functions, called one
after another on the same batch, share one computation. Also computes the per-batch stats
that are logged (pass rate, RM items scored, zero-variance groups with/without the
thinking term, seconds spent in the sandbox and the RM).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.rewards.components import RewardMode, compose, get_mode, keyed_groups, zero_std_fraction_of


@dataclass(frozen=True)
class Target:
    """What a completion is judged against: the statement the RM reads and the outcome payload
    (a `Problem` for code, a gold answer / `MathProblem` for math)."""

    task_id: str
    statement: str
    payload: Any


@dataclass(frozen=True)
class Outcome:
    """Outcome reward input for one completion: `passed` is R_o; `pass_fraction` is for logging."""

    passed: bool
    pass_fraction: float
    status: str = ""


@dataclass(frozen=True)
class ThinkingQuery:
    """One (problem, reasoning) pair for the reasoning reward model; `code` is the completion's
    code, for an RM trained with code (`rm_thinking_fn(include_code=True)`) -- ignored otherwise."""

    statement: str
    reasoning: str
    code: str | None = None


# (targets, completion texts) -> one Outcome per completion, same order.
OutcomeFn = Callable[[Sequence[Target], Sequence[str]], list[Outcome]]
# queries -> one score in [0, 1] per query (sigmoid of the RM's scalar), same order.
ThinkingFn = Callable[[Sequence[ThinkingQuery]], list[float]]


@dataclass(frozen=True)
class CompletionReward:
    """All reward components of one completion. `thinking` is the term added to the total
    (w*R_o*R_t in posterior mode); `raw_thinking` is the RM score R_t, None when not scored."""

    task_id: str
    format: float
    outcome: float
    thinking: float
    total: float
    raw_thinking: float | None
    pass_fraction: float
    status: str


@dataclass(frozen=True)
class BatchStats:
    """Per-batch numbers to log. Group fractions are None when the batch holds no whole group."""

    n: int
    pass_rate: float
    mean_pass_fraction: float
    rm_scored: int
    raw_thinking_mean: float | None
    frac_zero_std: float | None
    frac_zero_std_no_thinking: float | None
    outcome_seconds: float
    rm_seconds: float

    def as_metrics(self) -> dict[str, float]:
        """Metric name -> value, omitting undefined ones (loggers choke on NaN/None)."""
        metrics = {
            "outcome/pass_rate": self.pass_rate,
            "outcome/pass_fraction_mean": self.mean_pass_fraction,
            "thinking/rm_scored": float(self.rm_scored),
            "time/sandbox_s": self.outcome_seconds,
            "time/rm_s": self.rm_seconds,
        }
        optional = {
            "thinking/raw_score_mean": self.raw_thinking_mean,
            "gate/frac_zero_std_groups": self.frac_zero_std,
            "gate/frac_zero_std_groups_no_thinking": self.frac_zero_std_no_thinking,
        }
        metrics.update({k: float(v) for k, v in optional.items() if v is not None})
        return metrics


@dataclass(frozen=True)
class BatchRewards:
    completions: tuple[str, ...]
    rewards: tuple[CompletionReward, ...]
    stats: BatchStats

    def column(self, component: str) -> list[float]:
        """One float per completion for `component` in format / outcome / thinking / total."""
        if component not in ("format", "outcome", "thinking", "total"):
            raise KeyError(f"unknown reward component {component!r}")
        return [float(getattr(r, component)) for r in self.rewards]


def _default_parse(text: str):
    from pgrpo.parsing import parse_response

    return parse_response(text)


def _default_format(parsed: Any) -> bool:
    return bool(parsed.format_ok)


def _default_reasoning(parsed: Any) -> str:
    return parsed.reasoning or ""


def _default_code(parsed: Any) -> str | None:
    # Math parses have no code; an empty extraction means "no code section" to the RM.
    return getattr(parsed, "code", None) or None


class RewardEvaluator:
    """Computes every reward component of a batch once, gated by the reward mode.

    targets: task id -> Target. outcome_fn / thinking_fn: see OutcomeFn / ThinkingFn
    (thinking_fn may be None only for modes without a thinking term). group_size: completions
    per prompt (GRPO's G), used for the zero-variance stats. parse_fn, format_fn, reasoning_fn
    and code_fn turn a completion into R_f, the reasoning text and the code (the parser by
    default); whether the RM reads the code is the thinking_fn's choice (see rm_thinking_fn).
    """

    def __init__(self, targets: Mapping[str, Target], outcome_fn: OutcomeFn, thinking_fn: ThinkingFn | None,
                 *, mode: str | RewardMode = "posterior", weight: float = 1.0, group_size: int = 1,
                 parse_fn: Callable[[str], Any] | None = None, format_fn: Callable[[Any], bool] | None = None,
                 reasoning_fn: Callable[[Any], str] | None = None,
                 code_fn: Callable[[Any], str | None] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.mode = mode if isinstance(mode, RewardMode) else get_mode(mode)
        if self.mode.uses_thinking and thinking_fn is None:
            raise ValueError(f"reward mode {self.mode.name!r} needs a thinking reward model")
        self.targets = targets
        self.outcome_fn = outcome_fn
        self.thinking_fn = thinking_fn
        self.weight = weight
        self.group_size = group_size
        self.parse_fn = parse_fn or _default_parse
        self.format_fn = format_fn or _default_format
        self.reasoning_fn = reasoning_fn or _default_reasoning
        self.code_fn = code_fn or _default_code
        self.clock = clock
        self.last: BatchRewards | None = None
        self.last_task_ids: tuple[str, ...] = ()
        self.evaluations = 0  # fresh batch computations (cache misses)
        self.rm_items = 0  # completions sent to the reward model so far

    def evaluate(self, task_ids: Sequence[str], completions: Sequence[str]) -> tuple[BatchRewards, bool]:
        """Rewards of this batch and whether they were freshly computed (False: cache hit)."""
        key = (tuple(task_ids), tuple(completions))
        if self.last is not None and key == (self.last_task_ids, self.last.completions):
            return self.last, False
        if len(task_ids) != len(completions):
            raise ValueError(f"{len(task_ids)} task ids for {len(completions)} completions")
        self.last = self._compute(key[0], key[1])
        self.last_task_ids = key[0]
        self.evaluations += 1
        return self.last, True

    def _target(self, task_id: str) -> Target:
        try:
            return self.targets[task_id]
        except KeyError:
            raise KeyError(f"reward evaluator: unknown task id {task_id!r}") from None

    def _compute(self, task_ids: tuple[str, ...], completions: tuple[str, ...]) -> BatchRewards:
        targets = [self._target(t) for t in task_ids]
        parsed = [self.parse_fn(c) for c in completions]
        r_f = [1.0 if self.format_fn(p) else 0.0 for p in parsed]

        start = self.clock()
        outcomes = list(self.outcome_fn(targets, completions)) if completions else []
        outcome_seconds = self.clock() - start
        if len(outcomes) != len(completions):
            raise ValueError(f"outcome_fn returned {len(outcomes)} results for {len(completions)} completions")
        r_o = [1.0 if o.passed else 0.0 for o in outcomes]

        # The gate: which completions the reward model sees at all.
        wanted = [i for i, ro in enumerate(r_o) if self.mode.needs_thinking(ro)]
        raw: list[float | None] = [None] * len(completions)
        rm_seconds = 0.0
        if wanted:
            assert self.thinking_fn is not None  # guaranteed by __init__ for thinking modes
            queries = [ThinkingQuery(targets[i].statement, self.reasoning_fn(parsed[i]), self.code_fn(parsed[i]))
                       for i in wanted]
            start = self.clock()
            scores = list(self.thinking_fn(queries))
            rm_seconds = self.clock() - start
            if len(scores) != len(queries):
                raise ValueError(f"thinking_fn returned {len(scores)} scores for {len(queries)} queries")
            for i, score in zip(wanted, scores):
                if not 0.0 <= score <= 1.0:
                    raise ValueError(f"thinking score must be in [0, 1], got {score!r} for {task_ids[i]!r}")
                raw[i] = float(score)
            self.rm_items += len(queries)

        rewards = []
        for i, tid in enumerate(task_ids):
            r_t = raw[i] if raw[i] is not None else 0.0
            rewards.append(CompletionReward(
                task_id=tid, format=r_f[i], outcome=r_o[i],
                thinking=self.mode.thinking_term(r_o[i], r_t, self.weight),
                total=compose(r_f[i], r_o[i], r_t, self.mode, self.weight),
                raw_thinking=raw[i], pass_fraction=float(outcomes[i].pass_fraction),
                status=str(getattr(outcomes[i].status, "value", outcomes[i].status)),
            ))
        stats = self._stats(rewards, outcome_seconds, rm_seconds)
        return BatchRewards(completions, tuple(rewards), stats)

    def _stats(self, rewards: list[CompletionReward], outcome_seconds: float, rm_seconds: float) -> BatchStats:
        n = len(rewards)
        scored = [r.raw_thinking for r in rewards if r.raw_thinking is not None]
        # Groups are the completions of one prompt, contiguous in TRL's batches; partial groups
        # (a group split across processes) are left out of the zero-variance fractions.
        groups = keyed_groups([r.task_id for r in rewards], self.group_size)
        totals = [r.total for r in rewards]
        no_thinking = [r.format + r.outcome for r in rewards]
        return BatchStats(
            n=n,
            pass_rate=sum(r.outcome for r in rewards) / n if n else 0.0,
            mean_pass_fraction=sum(r.pass_fraction for r in rewards) / n if n else 0.0,
            rm_scored=len(scored),
            raw_thinking_mean=sum(scored) / len(scored) if scored else None,
            frac_zero_std=zero_std_fraction_of(totals, groups),
            frac_zero_std_no_thinking=zero_std_fraction_of(no_thinking, groups),
            outcome_seconds=outcome_seconds,
            rm_seconds=rm_seconds,
        )
