"""`PosteriorReward`: the same rewards as `pgrpo train`'s in-process `RewardEvaluator` in every mode -
in this process, after a pickling round trip, and in a spawned child (AsyncGRPOTrainer's reward
worker, a Ray actor); the gate withholds the RM from failing completions; concurrent calls share one
computation; a hung service ends the call within its bound naming the URL; an unknown task id or a
dead RM is an error naming it, never a 0. Services run on loopback and are stopped by the tests."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engines.engine_cases import MODES, batch, receive, reference, score_in_child, write_recipe
from loopback import free_port, serving
from pgrpo.config import ConfigError
from pgrpo.engines import PosteriorReward, RewardCallTimeout
from pgrpo.rm.client import RMServiceError


def assert_same(got, want) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.task_id, g.format, g.outcome, g.status, g.gated) == (w.task_id, w.format, w.outcome, w.status, w.gated)
        assert g.total == pytest.approx(w.total, abs=1e-6)
        assert g.thinking == pytest.approx(w.thinking, abs=1e-6)
        assert (g.raw_thinking is None) == (w.raw_thinking is None)


def test_in_process_pickled_and_spawned_scores_equal_the_trainers_evaluator(recipe_for):
    ids, texts = batch()
    recipes = {mode: recipe_for(mode) for mode in MODES}
    rewards = [PosteriorReward(recipes[mode]) for mode in MODES]
    for mode, reward in zip(MODES, rewards):
        want = reference(recipes[mode], ids, texts)
        assert_same(reward.score(ids, texts), want)
        assert_same(pickle.loads(pickle.dumps(reward)).score(ids, texts), want)  # noqa: S301 (our own bytes)
        got = reward.score(ids, texts)
        assert [r.outcome for r in got].count(1.0) == 4 and [r.format for r in got].count(0.0) == 4
        if mode == "posterior":  # the gate: failing completions never reach the RM
            assert all(r.gated == (r.outcome == 0.0) for r in got)
            assert all((r.raw_thinking is None) == (r.outcome == 0.0) for r in got)
        elif mode == "additive":
            assert not any(r.gated for r in got) and all(r.raw_thinking is not None for r in got)
        else:
            assert all(r.raw_thinking is None and r.thinking == 0.0 for r in got)
        reward.close()

    ctx = multiprocessing.get_context("spawn")  # as AsyncGRPOTrainer starts its reward worker
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=score_in_child, args=(rewards, ids, texts, child))  # pickled by multiprocessing
    proc.start()
    try:
        spawned = receive(proc, parent, 300)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    for mode, got in zip(MODES, spawned):
        assert_same(got, reference(recipes[mode], ids, texts))


def test_async_and_concurrent_calls_share_one_computation(recipe_for, rm_service):
    ids, texts = batch()
    reward = PosteriorReward(recipe_for("additive"))
    try:
        evaluator = reward.evaluator()
        before = rm_service.scorer.calls
        results: list[list[Any]] = []
        threads = [threading.Thread(target=lambda: results.append(reward.score(ids, texts))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 3 and results[0] == results[1] == results[2]
        assert evaluator.evaluations == 1  # three concurrent calls, one computation
        assert rm_service.scorer.calls - before == len(texts)  # the RM saw each completion once

        async def both():
            return await asyncio.gather(reward.ascore(ids[:3], texts[:3]), reward.ascore(ids[3:6], texts[3:6]))

        first, second = asyncio.run(both())
        assert_same(first, results[0][:3])  # equal up to the RM service's batching (float rounding)
        assert_same(second, results[0][3:6])
    finally:
        reward.close()


class _Hang(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.release.wait(60)

    def log_message(self, *args) -> None:
        pass


def test_a_hung_rm_ends_the_call_within_its_bound_naming_the_url(tmp_path):
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Hang)) as url:
        recipe = write_recipe(tmp_path / "r.yaml", "posterior", url, rm_timeout_s=120.0, rm_retries=0)
        reward = PosteriorReward(recipe, timeout_s=2.0)
        ids, texts = batch()
        start = time.monotonic()
        try:
            with pytest.raises(RewardCallTimeout, match=f"within 2 s.*{url}"):
                reward.score(ids[:1], texts[:1])
            assert time.monotonic() - start < 10
            with pytest.raises(RewardCallTimeout, match=url):
                asyncio.run(reward.ascore(ids[:1], texts[:1]))
        finally:
            _Hang.release.set()


def test_failures_name_the_item_or_the_url_never_a_zero(tmp_path, recipe_for, tiny_rm_path):
    reward = PosteriorReward(recipe_for("outcome"))
    with pytest.raises(KeyError, match="no/such/task"):
        reward.score(["no/such/task"], ["x"])
    reward.close()
    dead = f"http://127.0.0.1:{free_port()}"
    recipe = write_recipe(tmp_path / "dead.yaml", "posterior", dead, rm_timeout_s=5.0, rm_retries=0)
    with pytest.raises(RMServiceError, match=dead):
        PosteriorReward(recipe).score(*batch())
    with pytest.raises(ConfigError, match="reward.rm_url"):
        PosteriorReward(write_recipe(tmp_path / "local.yaml", "posterior", None, rm_path=tiny_rm_path),
                        require_served_rm=True)
    with pytest.raises(ConfigError, match="build_tiny_rm"):
        PosteriorReward(write_recipe(tmp_path / "tiny.yaml", "posterior", None, build_tiny_rm=True))
