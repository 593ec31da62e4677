"""What the engine-adapter tests share: a recipe per reward mode, a batch of passing / failing /
unformatted completions of the tiny problems, and the reference rewards: the in-process
`RewardEvaluator` built exactly as `pgrpo train` builds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY_DATA = ROOT / "recipes" / "data" / "tiny-humaneval.jsonl"
MODES = ("posterior", "additive", "outcome")


def write_recipe(path: Path, mode: str, rm_url: str | None, data: Path = TINY_DATA, **reward: object) -> Path:
    """A minimal reward recipe (task code, tiny problems, one sandbox worker) at `path`; generous program
    limits: a shared, loaded machine must not turn a passing answer into a timeout."""
    recipe = {
        "version": 1, "output_dir": str(path.parent / "out"), "task": "code",
        "data": {"source": str(data)},
        "reward": {"mode": mode, "rm_batch_size": 4, **({"rm_url": rm_url} if rm_url else {}), **reward},
        "sandbox": {"workers": 1, "timeout_per_test_s": 10.0, "timeout_per_program_s": 30.0, "memory_mb": 1024},
    }
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def batch() -> tuple[list[str], list[str]]:
    """(task ids, completions): per tiny problem a passing answer, a failing one and an unformatted one."""
    from pgrpo.data.problem import Problem
    from pgrpo.train.config import load_train_config
    from pgrpo.train.tasks import TrainExample, load_targets, warmup_response

    config = load_train_config(None, ["output_dir=unused", f"data.source={TINY_DATA}"])
    ids, texts = [], []
    for target in list(load_targets(config).values())[:4]:
        good = warmup_response(TrainExample(target.task_id, "", target))
        assert isinstance(target, Problem)
        entry = target.entry_point
        bad = f"<think>\nI guess.\n</think>\n<answer>\n```python\ndef {entry}(*a):\n    return None\n```\n</answer>"
        ids += [target.task_id] * 3
        texts += [good, bad, "I do not know."]
    return ids, texts


def reference(recipe: Path, ids: list[str], texts: list[str]) -> list[object]:
    """The rewards `pgrpo train` computes: its RewardEvaluator, verifier and RM, in this process."""
    from pgrpo.rewards.batch import RewardEvaluator
    from pgrpo.train.config import load_train_config
    from pgrpo.train.runner import recipe_thinking_fn
    from pgrpo.train.tasks import load_targets, make_verifier

    config = load_train_config(recipe)
    with make_verifier(config) as verifier:
        thinking, truncated = recipe_thinking_fn(config, None)
        evaluator = RewardEvaluator(load_targets(config), verifier, thinking, mode=config.reward.mode,
                                    weight=config.reward.thinking_weight, rm_truncated=truncated)
        return list(evaluator.evaluate(ids, texts)[0].rewards)


def receive(proc: Any, conn: Any, timeout_s: float) -> Any:
    """What a spawned child sends, or AssertionError as soon as it dies without sending (or past `timeout_s`)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if conn.poll(0.5):
            return conn.recv()
        if not proc.is_alive():
            raise AssertionError(f"the spawned child exited ({proc.exitcode}) without sending its results")
    raise AssertionError(f"the spawned child sent nothing within {timeout_s:g} s")


def score_in_child(rewards: list[Any], ids: list[str], texts: list[str], out: Any) -> None:
    """A spawned process's body (importable by the child): score with PosteriorRewards, send the results."""
    out.send([r.score(ids, texts) for r in rewards])
    out.close()


def trl_async_score_in_child(loop_kwargs: dict[str, Any], prompts: list[Any], completions: list[Any],
                             task_ids: list[str], out: Any, completion_ids: list[list[int]] | None = None) -> None:
    """A spawned child's body: TRL 1.16 AsyncGRPOTrainer's own `_AsyncRolloutLoop._score_group` on one group,
    with the reward funcs unpickled from `loop_kwargs` as its rollout child gets them; sends each sample's metrics.
    `completion_ids`: the completions' token ids (default: placeholders)."""
    import asyncio
    from types import SimpleNamespace

    from accelerate.state import PartialState
    from trl.experimental.async_grpo.async_rollout_worker import (
        RolloutGroup,
        TrainingSequence,
        _AsyncRolloutLoop,
        _scrub_child_env,
    )
    from trl.trainer.utils import get_callable_name

    _scrub_child_env()  # as TRL's _child_main starts its child
    PartialState()
    funcs = loop_kwargs["reward_funcs"]
    loop = SimpleNamespace(reward_funcs=funcs, reward_func_names=[get_callable_name(f) for f in funcs],
                           _env_reward_types=[], _provides_rollout_reward=False)
    n = len(completions)
    group = RolloutGroup(
        prompts=prompts, reward_kwargs={"task_id": task_ids}, completions=completions,
        completions_ids=completion_ids or [[1, 2]] * n,
        completions_sequences=[[TrainingSequence([0, 1, 2], [0, 1, 1], [0.0, -1.0, -1.0], ("r", i))]  # type: ignore[arg-type]
                               for i in range(n)],
        tool_call_counts=[0] * n, tool_failure_counts=[0] * n, model_version=0, group_id=0,
        env_rewards=[None] * n, rollout_rewards=[None] * n)
    samples = asyncio.run(_AsyncRolloutLoop._score_group(loop, group))  # type: ignore[arg-type]  # a stand-in loop
    out.send(([s.metrics for s in samples], funcs[0].reward.evaluator().evaluations))
    out.close()


REQUIRE_ENV = "PGRPO_REQUIRE_ENGINES"  # `make test` sets it: scripts/install.sh installs verl and openrlhf


def require_engine(module: str, reason: str) -> None:
    """Skip the calling test module when `module` is missing, saying how to install it - unless
    REQUIRE_ENV is "1" (make test / CI, which install it): then a missing engine fails the run."""
    import importlib
    import os

    import pytest

    if os.environ.get(REQUIRE_ENV) == "1":
        importlib.import_module(module)
    else:
        pytest.importorskip(module, reason=reason)
