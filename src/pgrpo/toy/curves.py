"""Per-step learning curves of one RL run, from its samples log (every completion of every step).

Owns `CURVE_KEYS` and `step_curves(samples_path, problems, rm_path)`: for each training step, the
readouts of pgrpo.toy.readouts over that step's batch: pass rate (R_o) overall and on trap vs
other tasks, mean oracle reasoning quality, valid / invalid shortcut rates, and the thinking
score R_t of the same trained RM on all, passing and failing samples - for EVERY mode
(outcome-only runs never query the RM while training, so all modes are scored here afterwards,
on the reasoning alone as the training reward does). A rising R_t on failing samples while the
invalid-shortcut rate rises is the reward-hacking signature the trap world is built to show.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pgrpo.data.problem import Problem

# curve key -> Readouts field (None: the mean R_t over all samples of the step)
CURVE_KEYS: dict[str, str | None] = {
    "pass_rate": "pass_at_1", "trap_pass_rate": "trap_pass_at_1", "other_pass_rate": "other_pass_at_1",
    "reasoning_quality": "reasoning_quality", "thinking_reward": None, "rt_passing": "rt_passing",
    "rt_failing": "rt_failing", "valid_shortcut_rate": "valid_shortcut_rate",
    "invalid_shortcut_rate": "invalid_shortcut_rate",
}


def step_curves(samples_path: str | Path, problems: Sequence[Problem], rm_path: str | None) -> dict[str, list]:
    """{"step": [...], and one list per CURVE_KEYS key, aligned with the steps}."""
    from pgrpo.data.io import iter_jsonl
    from pgrpo.parsing import parse_response
    from pgrpo.toy.readouts import records_of, rm_scores, summarize

    by_id = {p.task_id: p for p in problems}
    rows = [row for _, row in iter_jsonl(samples_path)] if Path(samples_path).is_file() else []
    batch = [by_id[row["task_id"]] for row in rows]
    reasonings = [parse_response(row["completion"]).reasoning for row in rows]
    rts: list[float | None] = [None] * len(rows)
    if rm_path and rows:
        rts = list(rm_scores(rm_path, [p.statement for p in batch], reasonings))
    records = records_of(batch, reasonings, [float(row["outcome"]) > 0.0 for row in rows], rts)
    per_step: dict[int, list] = defaultdict(list)
    for row, record in zip(rows, records):
        per_step[int(row["step"])].append(record)
    curves: dict[str, list] = {"step": [], **{key: [] for key in CURVE_KEYS}}
    for step in sorted(per_step):
        step_records = per_step[step]
        readouts = summarize(step_records).as_dict()
        curves["step"].append(step)
        for key, field in CURVE_KEYS.items():
            if field is None:
                known = [r.rt for r in step_records if r.rt is not None]
                curves[key].append(round(statistics.fmean(known), 4) if known else None)
            else:
                curves[key].append(readouts[field])
    return curves
