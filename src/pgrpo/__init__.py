"""pgrpo: Posterior-GRPO for code LLMs (R = R_format + R_outcome + R_outcome * R_thinking)."""

__version__ = "0.1.0"
