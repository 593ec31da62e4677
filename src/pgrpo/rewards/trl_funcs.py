"""Adapters that hand the reward components to TRL's GRPOTrainer as three reward functions.

Owns `make_reward_funcs(evaluator)`: callables named "format", "outcome" and "thinking"
(TRL logs `rewards/<name>/mean`), whose per-completion sum is exactly the composed total
(TRL sums reward functions with weight 1 each). All three read one cached
`RewardEvaluator` computation per batch. The first function of each call also reports the
step's stats through TRL's `log_metric` hook and per-completion status through `log_extra`.

Global metrics: each rank's reward functions see only that rank's slice, and TRL 1.16 averages
`log_metric` values over ranks (sum of values / number of values, all ranks), which turns
counts into per-rank means and hides the slowest rank's time. So the first function gathers
every rank's `BatchStats` (the injected `gather`, `pgrpo.train.distributed.gather_json` in
training: a collective, called by every rank on every step) and logs `global_metrics` of them:
the same value on every rank, which TRL's average leaves unchanged.

All ranks stop together: that gather is also how a rank's reward failure reaches the others.
Any exception while the first function computes the batch (an `RMServiceError`, a
`RemoteSandboxError`, a score outside [0, 1], ...) is caught and sent in place of the stats
(`RankReport`); after the gather every rank raises `RewardStepError` at the same step, naming each
failing rank and its error (which names the URL or the item). Without this, the failing rank
raised alone and the others waited in the gather until the collective timeout (`grpo.ddp_timeout`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.errors import PgrpoError, RankFailure, name_ranks
from pgrpo.rewards.batch import BatchRewards, BatchStats, RewardEvaluator, global_metrics

log = logging.getLogger("pgrpo.rewards")
COMPONENTS = ("format", "outcome", "thinking")
# value -> every rank's value in rank order (a collective: pgrpo.train.distributed.gather_json);
# one process: [value] (`single_process`).
Gather = Callable[[Any], list[Any]]


ERROR_KEY = "error"  # the wire key of a failed rank's report (never a BatchStats field)
MAX_ERROR_CHARS = 4000  # of one rank's error message in the collective


class RewardStepError(RankFailure):
    """A rank's reward computation failed at this step: raised on every rank, naming the failing ones."""


@dataclass(frozen=True)
class RankReport:
    """What one rank sends in the step's collective: its batch stats, or why its rewards failed.

    On the wire: the stats' dict (`BatchStats.to_dict`), or `{"error": message}`."""

    stats: BatchStats | None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        if self.stats is None:
            return {ERROR_KEY: self.error or "no reward stats"}
        return self.stats.to_dict()

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RankReport:
        if ERROR_KEY in data:
            return cls(None, str(data[ERROR_KEY]))
        return cls(BatchStats.from_dict(data))


def _describe(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " [...]"


def single_process(value: Any) -> list[Any]:
    return [value]


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a plain string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


class ComponentReward:
    """One reward component as a TRL reward function: `f(prompts, completions, task_id, ...)`."""

    def __init__(self, evaluator: RewardEvaluator, component: str, gather: Gather = single_process) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
        self.evaluator = evaluator
        self.component = component
        self.gather = gather
        self._reports: list[RankReport] = []  # every rank's report of the last step (first function only)
        self.__name__ = component  # TRL names the logged metric after this

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 task_id: Sequence[str] | None = None, log_metric: Callable[[str, float], None] | None = None,
                 log_extra: Callable[[str, list[Any]], None] | None = None, trainer_state: Any = None,
                 **_: Any) -> list[float]:
        if task_id is None:
            raise ValueError("reward function needs the dataset's 'task_id' column")
        texts = [completion_text(c) for c in completions]
        if self.component != COMPONENTS[0]:  # the first function computed (and agreed on) this batch
            return self.evaluator.evaluate(list(task_id), texts)[0].column(self.component)
        # TRL calls the components in order once per step: the first one computes the batch and
        # logs the step's stats, also when an identical batch comes back on a later step (cached).
        batch = self._agreed_batch(list(task_id), texts, trainer_state)
        if log_metric is not None:
            for name, value in global_metrics([r.stats for r in self._reports if r.stats is not None]).items():
                log_metric(name, value)
        if log_extra is not None:
            log_extra("status", [r.status for r in batch.rewards])
            log_extra("pass_fraction", [r.pass_fraction for r in batch.rewards])
        return batch.column(self.component)

    def _agreed_batch(self, task_ids: list[str], texts: list[str], trainer_state: Any) -> BatchRewards:
        """This rank's batch, after every rank has reported its stats or its failure (the gather is
        unconditional: every rank must take part, whatever its hooks and whether it failed)."""
        batch: BatchRewards | None = None
        failure: Exception | None = None
        try:
            batch = self.evaluator.evaluate(task_ids, texts)[0]
            mine = RankReport(batch.stats)
        except Exception as exc:  # any failure: the other ranks must hear of it, not wait for it
            if not isinstance(exc, PgrpoError):  # not a user-facing error: keep its traceback in this rank's log
                log.error("reward computation failed on this rank", exc_info=exc)
            failure, mine = exc, RankReport(None, _describe(exc))
        self._reports = [RankReport.from_wire(d) for d in self.gather(mine.to_wire())]
        failed = [(rank, r.error) for rank, r in enumerate(self._reports) if r.error is not None]
        if failed:
            step = getattr(trainer_state, "global_step", None)
            at = f" at step {int(step) + 1}" if isinstance(step, int) else ""
            raise RewardStepError(f"reward computation failed{at} (every rank stops at this step; {len(failed)} of "
                                  f"{len(self._reports)} ranks failed): {name_ranks(failed)}") from failure
        assert batch is not None  # this rank did not fail, or it would be listed above
        return batch

    def __repr__(self) -> str:
        return f"ComponentReward({self.component!r}, mode={self.evaluator.mode.name!r})"


def make_reward_funcs(evaluator: RewardEvaluator, gather: Gather = single_process) -> list[ComponentReward]:
    """[format, outcome, thinking] reward functions sharing `evaluator` (pass to GRPOTrainer);
    `gather` combines the stats of all ranks (see the module docstring)."""
    return [ComponentReward(evaluator, name, gather) for name in COMPONENTS]
