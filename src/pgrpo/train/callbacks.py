"""Trainer callbacks that make a run inspectable with plain tools.

Owns `MetricsJsonlCallback` (one JSON object per logged step in `metrics.jsonl`: every
metric the trainer logs, reward components included) with `trim_metrics` for resume (rows
past the resumed checkpoint are dropped, so a resumed run has no duplicate steps), and
`SamplesCallback` (every N steps, the first few completions of the latest batch of EVERY rank,
with their reward components, a `rank` and an `index` in that rank's slice, appended to
`samples.jsonl`: the rows are gathered to rank 0, the only writer) with `trim_samples`. Both
files are `Journal`s, opened by the main process only on its first write (so a killed run's
torn last line is cut first).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from pgrpo.data.journal import Journal
from pgrpo.rewards.trl_funcs import Gather, single_process


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN / inf
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def trim_metrics(path: str | Path, last_step: int) -> int:
    """Drop rows with step > `last_step` (logged again after resume) and summary rows; returns rows kept."""
    # End-of-training summary rows go too: the resumed run writes its own.
    return Journal(path, strict=False).retain(
        lambda row: int(row.get("step", 0)) <= last_step and "train_runtime" not in row)


def trim_samples(path: str | Path, last_step: int) -> int:
    """Drop sample rows with step > `last_step` (logged again after resume); returns rows kept."""
    return Journal(path, strict=False).retain(lambda row: int(row.get("step", 0)) <= last_step)


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
    """Appends `num_samples` completions of each rank's latest batch every `every` steps.

    `gather` collects the rows of every rank on every rank (a collective: every rank calls it on
    the same steps, so the decision to sample depends only on the step); rank 0 writes them."""

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
