"""pgrpo: Posterior-GRPO for code LLMs.

Rewards the reasoning process of a code model, gated on its code passing the tests:
R = R_format + R_outcome + R_outcome * R_thinking. See README.md for the pipeline.
"""

__version__ = "0.1.0"
