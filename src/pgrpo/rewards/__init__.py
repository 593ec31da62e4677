"""Rewards for P-GRPO, framework-neutral: the modes, the gate and the per-batch evaluator (`batch`)."""
