"""OpenRLHF's reward file for P-GRPO: `--reward.remote_url recipes/openrlhf/reward_func.py` (older
releases: `--remote_rm_url`), with env PGRPO_RECIPE naming the pgrpo recipe (and PGRPO_TOKENIZER the
policy's tokenizer when the recipe's model.path is not it). OpenRLHF loads this file by path, outside
any package: the function itself is `pgrpo.engines.openrlhf.reward_func`."""

from pgrpo.engines.openrlhf import reward_func

__all__ = ["reward_func"]
