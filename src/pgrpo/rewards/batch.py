"""Per-batch reward evaluation shared by the three TRL reward functions.

Owns `RewardEvaluator`: given a batch of (task id, completion text) it judges each
completion once with a `pgrpo.verify.BatchVerify` (the one verification every stage uses:
its Verdict carries R_f, R_o, the reasoning and the code), asks the reasoning reward model
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

from pgrpo.rewards.components import RewardMode, compose, get_mode, keyed_groups, zero_std_fraction_of
from pgrpo.verify import BatchVerify, Task


@dataclass(frozen=True)
class Target:
    """What a completion is judged against: the statement the RM reads and the task verified."""

    task_id: str
    statement: str
    task: Task


@dataclass(frozen=True)
class ThinkingQuery:
    """One (problem, reasoning) pair for the reasoning reward model; `code` is the completion's
    code, read only by an RM whose manifest says include_code (`pgrpo.rewards.thinking`)."""

    statement: str
    reasoning: str
    code: str | None = None


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


class RewardEvaluator:
    """Computes every reward component of a batch once, gated by the reward mode.

    targets: task id -> Target. verify_fn: judges (task, completion) pairs (a `pgrpo.verify.Verifier`);
    thinking_fn: see ThinkingFn (None only for modes without a thinking term). group_size:
    completions per prompt (GRPO's G), used for the zero-variance stats.
    """

    def __init__(self, targets: Mapping[str, Target], verify_fn: BatchVerify, thinking_fn: ThinkingFn | None,
                 *, mode: str | RewardMode = "posterior", weight: float = 1.0, group_size: int = 1) -> None:
        self.mode = mode if isinstance(mode, RewardMode) else get_mode(mode)
        if self.mode.uses_thinking and thinking_fn is None:
            raise ValueError(f"reward mode {self.mode.name!r} needs a thinking reward model")
        self.targets = targets
        self.verify_fn = verify_fn
        self.thinking_fn = thinking_fn
        self.weight = weight
        self.group_size = group_size
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
        start = time.perf_counter()
        verdicts = self.verify_fn([(t.task, c) for t, c in zip(targets, completions)]) if completions else []
        outcome_seconds = time.perf_counter() - start
        if len(verdicts) != len(completions):
            raise ValueError(f"verify_fn returned {len(verdicts)} verdicts for {len(completions)} completions")
        r_f = [1.0 if v.format_ok else 0.0 for v in verdicts]
        r_o = [1.0 if v.passed else 0.0 for v in verdicts]

        # The gate: which completions the reward model sees at all.
        wanted = [i for i, ro in enumerate(r_o) if self.mode.needs_thinking(ro)]
        raw: list[float | None] = [None] * len(completions)
        rm_seconds = 0.0
        if wanted:
            assert self.thinking_fn is not None  # guaranteed by __init__ for thinking modes
            # An empty extraction means "no code section" to the RM.
            queries = [ThinkingQuery(targets[i].statement, verdicts[i].reasoning, verdicts[i].code or None)
                       for i in wanted]
            start = time.perf_counter()
            scores = list(self.thinking_fn(queries))
            rm_seconds = time.perf_counter() - start
            if len(scores) != len(queries):
                raise ValueError(f"thinking_fn returned {len(scores)} scores for {len(queries)} queries")
            for i, score in zip(wanted, scores):
                if not 0.0 <= score <= 1.0:
                    raise ValueError(f"thinking score must be in [0, 1], got {score!r} for {task_ids[i]!r}")
                raw[i] = float(score)
            self.rm_items += len(queries)

        rewards = []
        for i, tid in enumerate(task_ids):
            raw_i = raw[i]
            r_t = 0.0 if raw_i is None else raw_i
            rewards.append(CompletionReward(
                task_id=tid, format=r_f[i], outcome=r_o[i],
                thinking=self.mode.thinking_term(r_o[i], r_t, self.weight),
                total=compose(r_f[i], r_o[i], r_t, self.mode, self.weight),
                raw_thinking=raw[i], pass_fraction=verdicts[i].pass_fraction, status=verdicts[i].status,
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
