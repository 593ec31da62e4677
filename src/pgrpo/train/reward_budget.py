"""The reward side's worst case per step on one rank, against the collective timeout (`grpo.ddp_timeout`).

A failing reward call must end before the other ranks give up waiting in the step's gather, so that
every rank stops naming it. Terms: the sandbox (local pool rounds, or `sandbox.url` services) and a
served RM; in-process RM compute and generation are not bounded here. `--check` prints it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgrpo.config import ConfigError
from pgrpo.rewards.batch import get_mode
from pgrpo.train.grpo_fields import grpo_value
from pgrpo.verify import task_type

# A pgrpo.train.config.TrainConfig, read structurally: that module calls this one, so it is not imported.
Recipe = Any


@dataclass(frozen=True)
class BudgetTerm:
    """One part of the reward side: `seconds` None when it is not bounded (or not known) here."""

    name: str
    seconds: float | None
    how: str

    def line(self) -> str:
        value = "not bounded here" if self.seconds is None else f"<= {self.seconds:.1f} s"
        return f"{self.name}: {value} ({self.how})"


@dataclass(frozen=True)
class RewardBudget:
    completions: int  # per rank per reward call
    terms: tuple[BudgetTerm, ...]
    collective_timeout_s: float

    @property
    def worst_case_s(self) -> float:
        return sum(t.seconds for t in self.terms if t.seconds is not None)

    @property
    def fits(self) -> bool:
        return self.worst_case_s < self.collective_timeout_s

    def describe(self) -> str:
        share = self.worst_case_s / self.collective_timeout_s
        verdict = f"fits ({share:.0%} of it)" if self.fits else "DOES NOT FIT"
        return "\n".join([
            f"reward side, worst case per step on one rank ({self.completions} completions per reward call):",
            *(f"  {t.line()}" for t in self.terms),
            f"  total <= {self.worst_case_s:.1f} s; collective timeout (grpo.ddp_timeout) "
            f"{self.collective_timeout_s:g} s: {verdict}",
        ])


def completions_per_rank(kwargs: Mapping[str, Any]) -> int:
    """Completions one rank scores per reward call: TRL's generation batch over the ranks (WORLD_SIZE 1
    when unknown: the most)."""
    generation_batch = kwargs.get("generation_batch_size")
    if generation_batch:
        return math.ceil(int(generation_batch) / max(1, int(os.environ.get("WORLD_SIZE", "1") or 1)))
    steps = kwargs.get("steps_per_generation") or grpo_value(kwargs, "gradient_accumulation_steps")
    return int(grpo_value(kwargs, "per_device_train_batch_size")) * int(steps)


def _program_limit(config: Recipe) -> tuple[float, str]:
    """The longest per-program limit a job of the recipe's data may get."""
    from pgrpo.sandbox.kinds import SPECS, effective_limits

    limit, how = config.sandbox.timeout_per_program_s, "every program at sandbox.timeout_per_program_s"
    for kind, spec in SPECS.items():  # in-process kinds (BigCodeBench's unittest) only with data.allow_unittest
        own = effective_limits(config.sandbox, kind)["timeout_per_program_s"]
        if own > limit and (config.data.allow_unittest or not spec.in_process):
            limit, how = own, f"every program at the {kind.value} kind's limit"
    return limit, how


def _local_sandbox(config: Recipe, n: int) -> BudgetTerm:
    limit, how = _program_limit(config)
    from pgrpo.sandbox.pool import WORKER_GRACE_S
    from pgrpo.sandbox.resources import LOCAL_SIZE_VARIABLES, default_workers

    workers = max(1, config.sandbox.workers)
    rounds = math.ceil(n / workers)
    how = (f"{rounds} round(s) x ({limit:g} s + {WORKER_GRACE_S} s before a silent worker counts as hung), "
           f"{how}, plus each program's start-up")
    limit += WORKER_GRACE_S
    launched = any(name in os.environ for name in LOCAL_SIZE_VARIABLES)
    if not launched and config.sandbox.workers == default_workers():
        # Not started as a rank, and the workers are this machine's CPU-aware default (sandbox.workers unset,
        # or set to the same number): this machine's CPUs say nothing of a training node's.
        return BudgetTerm("sandbox, local pool", None, f"{workers} workers = this machine's CPU-aware default: a "
                                                       f"training node's usable CPUs / local ranks decide; with "
                                                       f"{workers}: {how} = {rounds * limit:.1f} s")
    return BudgetTerm(f"sandbox, local pool of {workers} workers", rounds * limit, how)


def _remote_sandbox(config: Recipe, n: int, contact: bool) -> BudgetTerm:
    from pgrpo.errors import PgrpoError
    from pgrpo.sandbox.remote import RemoteSandbox, run_worst_case

    name = f"sandbox, service(s) {', '.join(config.sandbox.urls)}"
    if config.sandbox.request_timeout_s:
        worst = run_worst_case(config.sandbox, n)
    elif contact:  # sized by the fewest workers and jobs per request among the services (their /health)
        with RemoteSandbox(config.sandbox.urls, config.sandbox) as client:
            try:
                healths = [client.health(url) for url in config.sandbox.urls]
            except PgrpoError as exc:
                raise ConfigError(f"sandbox.url: {exc}") from None
        worst = run_worst_case(config.sandbox, n, min(h.workers for h in healths), min(h.max_jobs for h in healths),
                               per_program_s=_program_limit(config)[0])
    else:
        return BudgetTerm(name, None, "sandbox.request_timeout_s: 0 sizes each request from the service's "
                                      "workers, which are read from its /health when training starts")
    return BudgetTerm(name, worst.seconds, worst.how)


def _reward_model(config: Recipe, n: int) -> BudgetTerm:
    reward = config.reward
    if reward.rm_url is None:
        return BudgetTerm("reward model, in-process", None, "compute time only, no network wait")
    from pgrpo.rm.client import score_worst_case
    from pgrpo.serving import parse_urls

    worst = score_worst_case(n, items_per_request=reward.rm_batch_size, timeout_s=reward.rm_timeout_s,
                             retries=reward.rm_retries)
    urls = parse_urls(reward.rm_url, "reward.rm_url")
    return BudgetTerm(f"reward model, service(s) {', '.join(urls)}", worst.seconds,
                      f"every completion scored: {worst.how}")


def reward_budget(config: Recipe, grpo_kwargs: Mapping[str, Any], *, contact: bool = True) -> RewardBudget:
    """The reward side's worst case; `contact`: the sandbox services may be asked for their workers."""
    n = completions_per_rank(grpo_kwargs)
    terms: list[BudgetTerm] = []
    if task_type(config.task).sandboxed:
        terms.append(_remote_sandbox(config, n, contact) if config.sandbox.urls else _local_sandbox(config, n))
    else:
        terms.append(BudgetTerm("answer check", None, f"task {config.task}: compared in-process, no sandbox"))
    if get_mode(config.reward.mode).uses_thinking:
        terms.append(_reward_model(config, n))
    return RewardBudget(n, tuple(terms), float(grpo_value(grpo_kwargs, "ddp_timeout")))


def check_reward_budget(budget: RewardBudget) -> None:
    """ConfigError (naming grpo.ddp_timeout and the terms) when the worst case reaches the collective timeout."""
    if budget.fits:
        return
    raise ConfigError(
        f"grpo.ddp_timeout: {budget.collective_timeout_s:g} s, but the reward side of one step can take up to "
        f"{budget.worst_case_s:.1f} s on one rank; a failing reward call must end before the other ranks stop "
        f"waiting for it, so that every rank stops naming it. Shorten the terms below (reward.rm_timeout_s, "
        f"reward.rm_retries, sandbox.request_timeout_s, sandbox.retries, sandbox.timeout_per_program_s; more "
        f"sandbox.workers), or raise grpo.ddp_timeout.\n{budget.describe()}")
