"""What TRL calls: the three reward components as reward functions, and the logging callbacks.

`make_reward_funcs`: "format", "outcome", "thinking" over one cached `RewardEvaluator` batch (their
sum is the total). The first one gathers every rank's `BatchStats` or failure (`RankReport`), logs
`global_metrics` (the same on every rank, so TRL's rank average keeps it) and raises
`RewardStepError` on every rank when any failed. `MetricsJsonlCallback` / `SamplesCallback` append
to `metrics.jsonl` / `samples.jsonl` (rank 0 only); `trim_*` drop rows past a resumed checkpoint.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from pgrpo.data.journal import Journal
from pgrpo.errors import PgrpoError, RankFailure, name_ranks
from pgrpo.rewards.batch import (
    COMPONENTS,
    BatchRewards,
    BatchStats,
    RewardEvaluator,
    completion_text,
    global_metrics,
)

log = logging.getLogger("pgrpo.rewards")
Gather = Callable[[Any], list[Any]]  # value -> every rank's value in rank order (a collective)


def single_process(value: Any) -> list[Any]:
    """The `Gather` of one process (the default: pass `gather_json` under a process group)."""
    return [value]
ERROR_KEY = "error"  # the wire key of a failed rank's report (never a BatchStats field)
MAX_ERROR_CHARS = 4000  # of one rank's error message in the collective


class RewardStepError(RankFailure):
    """A rank's reward computation failed at this step: raised on every rank, naming the failing ones."""


@dataclass(frozen=True)
class RankReport:
    """One rank's part of the step's collective: its stats' dict, or `{"error": why its rewards failed}`."""

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


class ComponentReward:
    """One reward component as a TRL reward function: `f(prompts, completions, task_id, ...)`."""

    def __init__(self, evaluator: RewardEvaluator, component: str, gather: Gather = single_process) -> None:
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
        """This rank's batch, after every rank reported its stats or failure (every rank takes part)."""
        batch: BatchRewards | None = None
        failure: Exception | None = None
        try:
            batch = self.evaluator.evaluate(task_ids, texts)[0]
            mine = RankReport(batch.stats)
        except Exception as exc:  # any failure: the other ranks must hear of it, not wait for it
            if not isinstance(exc, PgrpoError):  # not a user-facing error: keep its traceback in this rank's log
                log.error("reward computation failed on this rank", exc_info=exc)
            text = f"{type(exc).__name__}: {exc}"
            cut = " [...]" if len(text) > MAX_ERROR_CHARS else ""
            failure, mine = exc, RankReport(None, text[:MAX_ERROR_CHARS] + cut)
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
    """[format, outcome, thinking] reward functions sharing `evaluator` (pass to GRPOTrainer)."""
    return [ComponentReward(evaluator, name, gather) for name in COMPONENTS]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN / inf
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def trim_log(path: str | Path, last_step: int) -> int:
    """Drop rows past `last_step` (logged again after resume) and summary rows (written again too);
    returns the rows kept (of `metrics.jsonl` or `samples.jsonl`)."""
    return Journal(path, strict=False).retain(
        lambda row: int(row.get("step", 0)) <= last_step and "train_runtime" not in row)


class _JournalCallback(TrainerCallback):
    """Appends rows to a Journal opened on first use (other ranks never open, never write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._journal: Journal | None = None

    def append(self, row: dict[str, Any]) -> None:
        if self._journal is None:
            self._journal = Journal(self.path, strict=False)
        self._journal.append(row)


class MetricsJsonlCallback(_JournalCallback):
    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": int(state.global_step), "epoch": _json_value(state.epoch)}
        if "train_runtime" in logs:
            row["summary"] = True  # the end-of-training totals, not a training step
        row.update({str(k): _json_value(v) for k, v in logs.items()})
        self.append(row)


class SamplesCallback(_JournalCallback):
    """Appends `num_samples` completions of each rank's latest batch every `every` steps (gathered on
    the same steps by every rank; rank 0 writes them)."""

    def __init__(self, evaluator: Any, path: str | Path, every: int, num_samples: int,
                 gather: Gather = single_process) -> None:
        super().__init__(path)
        self.evaluator = evaluator
        self.every = every
        self.num_samples = num_samples
        self.gather = gather

    def _rows(self, step: int) -> list[dict[str, Any]]:
        batch = self.evaluator.last
        if batch is None:
            return []
        return [{
            "step": step, "index": index, "task_id": reward.task_id, "completion": text,
            "format": reward.format, "outcome": reward.outcome, "thinking": reward.thinking,
            "total": reward.total, "raw_thinking": reward.raw_thinking,
            "pass_fraction": reward.pass_fraction, "status": reward.status,
        } for index, (text, reward) in enumerate(list(zip(batch.completions, batch.rewards))[: self.num_samples])]

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = int(state.global_step)
        if not self.every or not self.num_samples or step % self.every:
            return
        gathered = self.gather(self._rows(step))
        if not state.is_world_process_zero:
            return
        for rank, rows in enumerate(gathered):
            for row in rows:
                self.append({"step": row["step"], "rank": rank, **row})
