"""Evaluation: pass@k estimation (`passk`), math answer checking (`math_answer`) and the
`pgrpo evaluate` harness.

Only the pure pass@k helpers are re-exported here; `math_answer` imports math-verify
(sympy), so import it explicitly where needed.
"""

from pgrpo.evaluation.passk import PassAtKTable, mean_pass_at_k, pass_at_k, pass_at_k_report, pass_at_k_table

__all__ = ["PassAtKTable", "mean_pass_at_k", "pass_at_k", "pass_at_k_report", "pass_at_k_table"]
