"""Per-step learning curves of one RL run, from its samples log (every completion of every step).

Owns `step_curves(samples_path, problems, rm_path)`: for each training step, the batch's pass
rate (R_o), the mean oracle reasoning quality, and the mean thinking score R_t of the same
reward model for EVERY mode (outcome-only runs never query the RM while training, so all
modes are scored here afterwards, on the reasoning alone as the training reward does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pgrpo.data.problem import Problem


def step_curves(samples_path: str | Path, problems: Sequence[Problem], rm_path: str | None) -> dict[str, list]:
    """{"step": [...], "pass_rate": [...], "reasoning_quality": [...], "thinking_reward": [...]}."""
    from pgrpo.data.io import iter_jsonl
    from pgrpo.parsing import parse_response
    from pgrpo.toy.oracle import grade
    from pgrpo.toy.world import task_of

    by_id = {p.task_id: p for p in problems}
    rows = [row for _, row in iter_jsonl(samples_path)] if Path(samples_path).is_file() else []
    items = []
    for row in rows:
        problem = by_id[row["task_id"]]
        reasoning = parse_response(row["completion"]).reasoning
        items.append((int(row["step"]), problem, reasoning, float(row["outcome"]),
                      grade(task_of(problem), reasoning).quality))
    scores: list[float | None] = [None] * len(items)
    if rm_path and items:
        from pgrpo.rm.scoring import RewardScorer, RMItem

        scorer = RewardScorer(rm_path, batch_size=64, max_length=256, device="cpu")
        scores = list(scorer.score([RMItem(p.statement, r) for _, p, r, _, _ in items]))
    per_step: dict[int, list] = defaultdict(list)
    for (step, _, _, outcome, quality), score in zip(items, scores):
        per_step[step].append((outcome, quality, score))
    curves: dict[str, list] = {"step": [], "pass_rate": [], "reasoning_quality": [], "thinking_reward": []}
    for step in sorted(per_step):
        values = per_step[step]
        curves["step"].append(step)
        curves["pass_rate"].append(round(sum(v[0] for v in values) / len(values), 4))
        curves["reasoning_quality"].append(round(sum(v[1] for v in values) / len(values), 4))
        rm_scores = [v[2] for v in values if v[2] is not None]
        curves["thinking_reward"].append(round(sum(rm_scores) / len(rm_scores), 4) if rm_scores else None)
    return curves
