"""Evaluation: pass@k estimation (`passk`), benchmark readers and the
`pgrpo evaluate` harness.

Only the pure pass@k helpers are re-exported here (the rest imports heavier packages).
"""

from pgrpo.evaluation.passk import PassAtKTable, mean_pass_at_k, pass_at_k, pass_at_k_report

__all__ = ["PassAtKTable", "mean_pass_at_k", "pass_at_k", "pass_at_k_report"]
