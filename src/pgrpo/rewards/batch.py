"""The reward: the modes and the gate (`compose`), and the per-batch `RewardEvaluator`.

    posterior  R = R_f + R_o + w * R_o * R_t     (R_t only counts when the tests pass)
    additive   R = R_f + R_o + w * R_t           (the ablation that gets reward-hacked)
    outcome    R = R_f + R_o                     (the outcome-only GRPO baseline)

The evaluator computes a batch once (cached, thread-safe) for the three TRL reward functions,
asks the RM only for what the mode needs, and counts `BatchStats` that ranks combine exactly.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, fields
from typing import Any

from pgrpo.rm.scoring import RMItem
from pgrpo.sandbox.types import Status
from pgrpo.verify import BatchVerify, Task


@dataclass(frozen=True)
class RewardMode:
    """How R_t enters the total: at all (`uses_thinking`: needs an RM), times R_o (`gated`)."""

    name: str
    uses_thinking: bool
    gated: bool

    def needs_thinking(self, r_o: float) -> bool:
        return self.uses_thinking and (not self.gated or r_o > 0.0)

    def thinking_term(self, r_o: float, r_t: float, weight: float = 1.0) -> float:
        if not self.uses_thinking:
            return 0.0
        return weight * (r_o * r_t if self.gated else r_t)


REWARD_MODES: dict[str, RewardMode] = {mode.name: mode for mode in (
    RewardMode("posterior", uses_thinking=True, gated=True),
    RewardMode("additive", uses_thinking=True, gated=False),
    RewardMode("outcome", uses_thinking=False, gated=False))}


def get_mode(name: str) -> RewardMode:
    try:
        return REWARD_MODES[name]
    except KeyError:
        raise KeyError(f"unknown reward mode {name!r}; known: {', '.join(sorted(REWARD_MODES))}") from None


def compose(r_f: float, r_o: float, r_t: float, mode: str | RewardMode = "posterior",
            weight: float = 1.0) -> float:
    """Total reward of one completion: R_f + R_o + thinking_term(R_o, R_t)."""
    spec = mode if isinstance(mode, RewardMode) else get_mode(mode)
    return r_f + r_o + spec.thinking_term(r_o, r_t, weight)


def group_std(group: Sequence[float]) -> float:
    """Sample standard deviation (Bessel-corrected, as TRL's nanstd) of one group; 0 for size 1."""
    return statistics.stdev(group) if len(group) > 1 else 0.0


def keyed_groups(keys: Sequence[str], group_size: int) -> list[list[int]]:
    """Index lists of whole groups: runs of equal consecutive keys (prompt ids), cut into groups
    of `group_size`; a run that is not a multiple of it (a group split across processes) is skipped."""
    groups: list[list[int]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            if (i - start) % group_size == 0:
                groups.extend(list(range(j, j + group_size)) for j in range(start, i, group_size))
            start = i
    return groups


COMPONENTS = ("format", "outcome", "thinking")


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a plain string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


TIMEOUT_STATUS = Status.TIMEOUT.value  # a Verdict's status when a wall-clock limit hit


# items -> one score in [0, 1] per item (sigmoid of the RM's scalar, e.g. `RewardScorer.score`), same order
ThinkingFn = Callable[[Sequence[RMItem]], list[float]]
# () -> items the RM's truncation policy has cut so far (a running count, e.g. RewardScorer.truncated).
TruncationCount = Callable[[], int]


@dataclass(frozen=True)
class CompletionReward:
    """One completion's components: `thinking` is the term in the total, `raw_thinking` the RM's R_t
    (None: not scored), `gated`: the posterior gate kept it from the RM."""

    task_id: str
    format: float
    outcome: float
    thinking: float
    total: float
    raw_thinking: float | None
    pass_fraction: float
    status: str
    gated: bool = False


@dataclass(frozen=True)
class BatchStats:
    """One rank's per-batch counts and sums, so that ranks combine exactly (`global_metrics`)."""

    n: int
    passed: int
    pass_fraction_sum: float
    rm_scored: int
    raw_thinking_sum: float
    rm_truncated: int
    timeouts: int
    groups: int
    zero_std_groups: int
    zero_std_groups_no_thinking: int
    outcome_seconds: float
    rm_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchStats:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def global_metrics(parts: Sequence[BatchStats]) -> dict[str, float]:
    """The logged metrics of every rank's stats: totals, rates over all completions, max and mean
    times; undefined values are omitted (loggers choke on NaN/None)."""
    if not parts:
        raise ValueError("global_metrics needs the stats of at least one rank")
    total = {f.name: sum(getattr(p, f.name) for p in parts) for f in fields(BatchStats)}
    n, scored, groups = total["n"], total["rm_scored"], total["groups"]
    metrics = {
        "outcome/completions": float(n),
        "outcome/pass_rate": total["passed"] / n if n else 0.0,
        "outcome/pass_fraction_mean": total["pass_fraction_sum"] / n if n else 0.0,
        "sandbox/timeouts": float(total["timeouts"]),
        "thinking/rm_scored": float(scored),
        "thinking/rm_truncated": float(total["rm_truncated"]),
        "time/sandbox_s_max": max(p.outcome_seconds for p in parts),
        "time/sandbox_s_mean": total["outcome_seconds"] / len(parts),
        "time/rm_s_max": max(p.rm_seconds for p in parts),
        "time/rm_s_mean": total["rm_seconds"] / len(parts),
    }
    if scored:
        metrics["thinking/raw_score_mean"] = total["raw_thinking_sum"] / scored
    if groups:
        metrics["gate/frac_zero_std_groups"] = total["zero_std_groups"] / groups
        metrics["gate/frac_zero_std_groups_no_thinking"] = total["zero_std_groups_no_thinking"] / groups
    return metrics


@dataclass(frozen=True)
class BatchRewards:
    completions: tuple[str, ...]
    rewards: tuple[CompletionReward, ...]
    stats: BatchStats

    def column(self, component: str) -> list[float]:
        if component not in (*COMPONENTS, "total"):
            raise KeyError(f"unknown reward component {component!r}")
        return [float(getattr(r, component)) for r in self.rewards]


class RewardEvaluator:
    """Every reward component of a batch, once, gated by the mode. `targets`: task id -> task;
    `group_size`: GRPO's G, for the zero-variance stats."""

    def __init__(self, targets: Mapping[str, Task], verify_fn: BatchVerify, thinking_fn: ThinkingFn | None,
                 *, mode: str | RewardMode = "posterior", weight: float = 1.0, group_size: int = 1,
                 rm_truncated: TruncationCount | None = None) -> None:
        self.mode = mode if isinstance(mode, RewardMode) else get_mode(mode)
        if self.mode.uses_thinking and thinking_fn is None:
            raise ValueError(f"reward mode {self.mode.name!r} needs a thinking reward model")
        self.targets = targets
        self.verify_fn = verify_fn
        self.thinking_fn = thinking_fn
        self.weight = weight
        self.group_size = group_size
        self.rm_truncated = rm_truncated
        self.last: BatchRewards | None = None
        self.last_task_ids: tuple[str, ...] = ()
        self.evaluations = 0  # fresh batch computations (cache misses)
        self.rm_items = 0  # completions sent to the reward model so far
        self._lock = threading.Lock()  # guards the cache, the in-flight batches and the counters
        self._inflight: dict[tuple[tuple[str, ...], tuple[str, ...]], Future[BatchRewards]] = {}

    def evaluate(self, task_ids: Sequence[str], completions: Sequence[str]) -> tuple[BatchRewards, bool]:
        """Rewards of this batch and whether they were freshly computed (False: cached or computed by a
        concurrent call, whose failure is raised here too)."""
        key = (tuple(task_ids), tuple(completions))
        if len(task_ids) != len(completions):
            raise ValueError(f"{len(task_ids)} task ids for {len(completions)} completions")
        with self._lock:
            if self.last is not None and key == (self.last_task_ids, self.last.completions):
                return self.last, False
            running = self._inflight.get(key)
            if running is None:
                mine: Future[BatchRewards] = Future()
                self._inflight[key] = mine
        if running is not None:
            return running.result(), False
        try:
            result = self._compute(key[0], key[1])
        except BaseException as exc:
            with self._lock:
                del self._inflight[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            del self._inflight[key]
            self.last, self.last_task_ids = result, key[0]
            self.evaluations += 1
        mine.set_result(result)
        return result, True

    def _target(self, task_id: str) -> Task:
        try:
            return self.targets[task_id]
        except KeyError:
            raise KeyError(f"reward evaluator: unknown task id {task_id!r}") from None

    def _compute(self, task_ids: tuple[str, ...], completions: tuple[str, ...]) -> BatchRewards:
        targets = [self._target(t) for t in task_ids]
        start = time.perf_counter()
        verdicts = self.verify_fn(list(zip(targets, completions))) if completions else []
        outcome_seconds = time.perf_counter() - start
        if len(verdicts) != len(completions):
            raise ValueError(f"verify_fn returned {len(verdicts)} verdicts for {len(completions)} completions")
        r_f = [1.0 if v.format_ok else 0.0 for v in verdicts]
        r_o = [1.0 if v.passed else 0.0 for v in verdicts]

        # The gate: which completions the reward model sees at all.
        wanted = [i for i, ro in enumerate(r_o) if self.mode.needs_thinking(ro)]
        raw: list[float | None] = [None] * len(completions)
        rm_seconds = 0.0
        truncated_before = self.rm_truncated() if self.rm_truncated is not None else 0
        if wanted:
            assert self.thinking_fn is not None  # guaranteed by __init__ for thinking modes
            # An empty extraction means "no code section" to the RM.
            queries = [RMItem(targets[i].statement, verdicts[i].reasoning, verdicts[i].code or None)
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
            with self._lock:
                self.rm_items += len(queries)

        rewards = []
        for i, tid in enumerate(task_ids):
            r_t = raw[i] or 0.0
            rewards.append(CompletionReward(
                task_id=tid, format=r_f[i], outcome=r_o[i],
                thinking=self.mode.thinking_term(r_o[i], r_t, self.weight),
                total=compose(r_f[i], r_o[i], r_t, self.mode, self.weight),
                raw_thinking=raw[i], pass_fraction=verdicts[i].pass_fraction, status=verdicts[i].status,
                gated=self.mode.uses_thinking and not self.mode.needs_thinking(r_o[i]),
            ))
        truncated = (self.rm_truncated() - truncated_before) if self.rm_truncated is not None else 0
        stats = self._stats(rewards, outcome_seconds, rm_seconds, truncated)
        return BatchRewards(completions, tuple(rewards), stats)

    def _stats(self, rewards: list[CompletionReward], outcome_seconds: float, rm_seconds: float,
               rm_truncated: int) -> BatchStats:
        scored = [r.raw_thinking for r in rewards if r.raw_thinking is not None]
        # Groups: one prompt's completions, contiguous in TRL's batches (one split across processes: left out)
        groups = keyed_groups([r.task_id for r in rewards], self.group_size)
        totals = [r.total for r in rewards]
        no_thinking = [r.format + r.outcome for r in rewards]
        return BatchStats(
            n=len(rewards),
            passed=sum(1 for r in rewards if r.outcome > 0.0),
            pass_fraction_sum=sum(r.pass_fraction for r in rewards),
            rm_scored=len(scored),
            raw_thinking_sum=sum(scored),
            rm_truncated=rm_truncated,
            timeouts=sum(1 for r in rewards if r.status == TIMEOUT_STATUS),
            groups=len(groups),
            zero_std_groups=_constant_groups(totals, groups),
            zero_std_groups_no_thinking=_constant_groups(no_thinking, groups),
            outcome_seconds=outcome_seconds,
            rm_seconds=rm_seconds,
        )


def _constant_groups(values: Sequence[float], groups: Sequence[Sequence[int]], tol: float = 1e-8) -> int:
    return sum(1 for g in groups if group_std([values[i] for i in g]) <= tol)
