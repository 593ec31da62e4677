"""P-GRPO training on TRL's GRPOTrainer: recipes (`config`), tasks (`tasks`), the runner and `pgrpo train`."""
