"""Per-step learning curves of one RL run, from its samples log (every completion of every step).

Owns `CURVE_KEYS` and `step_curves(samples_path, problems, rm_path, verify)`: for each training
step, the readouts of pgrpo_toy.readouts over that step's batch: the training verdict R_o (the
weak tests in the weak world) and the strong-test verdict (each completion re-judged with the
strong tests by `verify` when training saw weak ones), the false-pass rate (weak pass, strong
fail), pass rates on trap vs other tasks, oracle quality, valid / invalid shortcut rates, and the
thinking score R_t of one trained RM on all, passing, failing, truly and falsely passing samples
- for EVERY arm (outcome-only runs never query the RM while training, so all are scored here
afterwards, on the reasoning alone as the training reward does). A rising R_t on failing samples while the
invalid-shortcut rate rises is the reward-hacking signature the trap world is built to show.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.data import Problem

if TYPE_CHECKING:
    from pgrpo.verify import BatchVerify

# curve key -> Readouts field (None: the mean R_t over all samples of the step)
CURVE_KEYS: dict[str, str | None] = {
    "pass_rate": "pass_at_1", "trap_pass_rate": "trap_pass_at_1", "other_pass_rate": "other_pass_at_1",
    "reasoning_quality": "reasoning_quality", "thinking_reward": None, "rt_passing": "rt_passing",
    "rt_failing": "rt_failing", "valid_shortcut_rate": "valid_shortcut_rate",
    "invalid_shortcut_rate": "invalid_shortcut_rate", "train_pass_rate": "weak_pass_at_1",
    "false_pass_rate": "false_pass_rate", "rt_true_pass": "rt_true_pass", "rt_false_pass": "rt_false_pass",
    "hidden_pass_rate": "hidden_pass_at_1",
}


def step_curves(samples_path: str | Path, problems: Sequence[Problem], rm_path: str | None,
                verify: BatchVerify | None = None) -> dict[str, list[Any]]:
    """{"step": [...], and one list per CURVE_KEYS key, aligned with the steps}. `problems` are the
    training problems; where they carry the weak tests, `verify` re-judges each completion with the
    strong tests (pass_rate is then the strong verdict, train_pass_rate the reward's)."""
    from pgrpo.data import iter_jsonl
    from pgrpo.parsing import parse_response
    from pgrpo_toy.readouts import records_of, rm_scores, summarize
    from pgrpo_toy.world import task_of, to_problem

    by_id = {p.task_id: p for p in problems}
    rows = [row for _, row in iter_jsonl(samples_path)] if Path(samples_path).is_file() else []
    batch = [by_id[row["task_id"]] for row in rows]
    reasonings = [parse_response(row["completion"]).reasoning for row in rows]
    rts: list[float | None] = [None] * len(rows)
    if rm_path and rows:
        rts = list(rm_scores(rm_path, [p.statement for p in batch], reasonings))
    trained = [float(row["outcome"]) > 0.0 for row in rows]
    strong = trained
    weak_tests = any(p.metadata.get("toy_tests") == "weak" for p in batch)
    if weak_tests and rows:
        if verify is None:
            raise ValueError("step_curves: training problems carry the weak tests; pass `verify` for the strong verdicts")
        strong_of = {p.task_id: to_problem(task_of(p), "strong") for p in problems}
        verdicts = verify([(strong_of[row["task_id"]], row["completion"]) for row in rows])
        strong = [bool(v.passed) for v in verdicts]
    records = records_of(batch, reasonings, strong, rts, trained)
    per_step: dict[int, list[Any]] = defaultdict(list[Any])
    for row, record in zip(rows, records):
        per_step[int(row["step"])].append(record)
    curves: dict[str, list[Any]] = {"step": [], **{key: [] for key in CURVE_KEYS}}
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
