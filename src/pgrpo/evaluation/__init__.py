"""Evaluation: pass@k, benchmark readers, `pgrpo evaluate` and `pgrpo check`. Only the pure pass@k
helpers are re-exported here (the rest imports heavier packages).
"""

from pgrpo.evaluation.passk import PassAtKTable, mean_pass_at_k, pass_at_k, pass_at_k_report

__all__ = ["PassAtKTable", "mean_pass_at_k", "pass_at_k", "pass_at_k_report"]
