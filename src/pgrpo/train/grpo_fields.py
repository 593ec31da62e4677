"""A recipe's value of a TRL GRPOConfig field, without building a GRPOConfig.

Owns `grpo_value(kwargs, name)`: the value in the checked `grpo` kwargs
(`pgrpo.train.config.grpo_kwargs`: the recipe's `grpo:` keys over the paper's defaults) or, when
the recipe leaves it out, GRPOConfig's own default. Building a GRPOConfig would set up the
distributed state; the budgets (`reward_budget`, `prompt_budget`) only need values. Imports trl
when called.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from typing import Any


@cache
def _defaults() -> dict[str, Any]:
    from trl import GRPOConfig

    return {f.name: f.default for f in dataclasses.fields(GRPOConfig) if f.default is not dataclasses.MISSING}


def grpo_value(kwargs: Mapping[str, Any], name: str) -> Any:
    """`kwargs[name]` unless absent or None, else GRPOConfig's default (KeyError for a field without one)."""
    value = kwargs.get(name)
    return _defaults()[name] if value is None else value
