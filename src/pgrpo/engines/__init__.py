"""P-GRPO's reward outside TRL's GRPOTrainer: `PosteriorReward`, a recipe's reward as one framework-neutral,
picklable object, and the adapters that call it (verl, OpenRLHF and `pgrpo reward serve`, AsyncGRPOTrainer).

It holds only the recipe; the verifier, RM and targets are built lazily, once per process, by the
same code `pgrpo train` uses. Each call runs in a daemon thread bounded by `timeout_s`
(`RewardCallTimeout` names the items and services); failures raise, never a silent 0.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from pgrpo.config import ConfigError
from pgrpo.errors import PgrpoError
from pgrpo.rewards.batch import CompletionReward, RewardEvaluator, get_mode
from pgrpo.train.config import TrainConfig, load_train_config, validate_reward_recipe
from pgrpo.verify import Verifier, task_type

__all__ = ["DEFAULT_CALL_TIMEOUT_S", "PosteriorReward", "RewardCallTimeout"]

RECIPE_ENV = "PGRPO_RECIPE"  # the recipe of a hook given none
DEFAULT_CALL_TIMEOUT_S = 600.0  # one score()/ascore() call, whatever its size; a hung one raises past it


class RewardCallTimeout(PgrpoError, TimeoutError):
    """A scoring call did not end within its bound (the message names the items and the services)."""


class PosteriorReward:
    """The P-GRPO reward of `recipe` (a path, with command-line `overrides`, or a `TrainConfig`).
    `group_size`: GRPO's G, for the stats; `require_served_rm`: refuse an RM loaded in this process."""

    config: TrainConfig
    timeout_s: float
    group_size: int

    def __init__(self, recipe: str | Path | TrainConfig, overrides: Sequence[str] = (), *,
                 timeout_s: float = DEFAULT_CALL_TIMEOUT_S, group_size: int = 1,
                 require_served_rm: bool = False) -> None:
        config = recipe if isinstance(recipe, TrainConfig) else load_train_config(recipe, list(overrides))
        validate_reward_recipe(config)
        uses_rm = get_mode(config.reward.mode).uses_thinking
        if uses_rm and config.reward.build_tiny_rm:
            raise ConfigError("reward.build_tiny_rm: scoring outside `pgrpo train` needs a built RM: set "
                              "reward.rm_path or reward.rm_url (`pgrpo rm serve`)")
        if uses_rm and require_served_rm and config.reward.rm_url is None:
            raise ConfigError(f"reward.rm_url: reward.mode={config.reward.mode} scores here in a CUDA-free process: "
                              "serve the RM (`pgrpo rm serve`) and set reward.rm_url instead of reward.rm_path")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.__setstate__({"config": config, "timeout_s": float(timeout_s), "group_size": group_size})

    # Pickling carries the recipe and the settings only; the services are rebuilt where it lands.
    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "timeout_s": self.timeout_s, "group_size": self.group_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._built: tuple[RewardEvaluator, Verifier] | None = None

    @property
    def mode(self) -> str:
        return self.config.reward.mode

    def services(self) -> str:
        """Where this reward's verdicts and RM scores come from, for error messages."""
        sandbox = ", ".join(self.config.sandbox.urls) or "a local sandbox pool"
        parts = [f"sandbox: {sandbox}" if task_type(self.config.task).sandboxed else f"task {self.config.task}: in-process check"]
        if get_mode(self.mode).uses_thinking:
            rm = self.config.reward.rm_url or self.config.reward.rm_path
            parts.append(f"reward model: {rm if isinstance(rm, str) else ', '.join(rm or ())}")
        return "; ".join(parts)

    def evaluator(self) -> RewardEvaluator:
        """This process's evaluator, built on first use (the sandbox starts, the RM's manifest is read)."""
        with self._lock:
            if self._built is None:
                self._built = self._build()
            return self._built[0]

    def _build(self) -> tuple[RewardEvaluator, Verifier]:
        from pgrpo.train.runner import reward_evaluator
        from pgrpo.train.tasks import load_targets, make_verifier

        config = self.config
        targets = load_targets(config)
        verifier = make_verifier(config)
        try:
            rm_path = config.reward.rm_path if get_mode(config.reward.mode).uses_thinking else None
            evaluator = reward_evaluator(config, targets, verifier, rm_path, self.group_size)
        except BaseException:
            verifier.close()
            raise
        return evaluator, verifier

    def score(self, task_ids: Sequence[str], completions: Sequence[str]) -> list[CompletionReward]:
        """One CompletionReward per completion, same order; RewardCallTimeout past `timeout_s`."""
        future = self._start(task_ids, completions)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise self._timeout(task_ids) from None

    async def ascore(self, task_ids: Sequence[str], completions: Sequence[str]) -> list[CompletionReward]:
        """`score` for an event loop: the work runs in its own thread, the loop is never blocked."""
        future = self._start(task_ids, completions)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            raise self._timeout(task_ids) from None

    def _start(self, task_ids: Sequence[str], completions: Sequence[str]) -> Future[list[CompletionReward]]:
        ids, texts = list(task_ids), list(completions)  # a length mismatch: the evaluator's ValueError
        future: Future[list[CompletionReward]] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():  # running: a caller giving up cannot cancel it under us
                return
            try:
                result = list(self.evaluator().evaluate(ids, texts)[0].rewards)
            except BaseException as exc:  # handed to the caller, who raises it
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=run, daemon=True, name="pgrpo-reward-call").start()
        return future

    def _timeout(self, task_ids: Sequence[str]) -> RewardCallTimeout:
        shown = ", ".join(repr(t) for t in list(task_ids)[:5]) + (" ..." if len(task_ids) > 5 else "")
        return RewardCallTimeout(f"scoring {len(task_ids)} completion(s) (task ids {shown}) did not end within "
                                 f"{self.timeout_s:g} s ({self.services()})")

    def close(self) -> None:
        """Stop this process's sandbox pool (built again on the next call)."""
        with self._lock:
            built, self._built = self._built, None
        if built is not None:
            built[1].close()

    def __repr__(self) -> str:
        return f"PosteriorReward(task={self.config.task!r}, mode={self.mode!r}, {self.services()})"


_shared: dict[tuple[str, tuple[str, ...], float], PosteriorReward] = {}
_shared_lock = threading.Lock()


def shared_reward(recipe: str | Path | None = None, overrides: Sequence[str] = (),
                  timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> PosteriorReward:
    """This process's PosteriorReward for `recipe` (else env PGRPO_RECIPE) and `overrides`, made once."""
    path = recipe or os.environ.get(RECIPE_ENV)
    if not path:
        raise ConfigError(f"pgrpo reward: no recipe given (a hook's recipe argument, or env {RECIPE_ENV})")
    key = (os.path.abspath(path), tuple(overrides), float(timeout_s))
    with _shared_lock:
        reward = _shared.get(key)
        if reward is None:
            reward = _shared[key] = PosteriorReward(path, list(overrides), timeout_s=timeout_s)
        return reward
