"""TRL 1.16 AsyncGRPOTrainer's reward call path, replayed with TRL's own code: our three reward
functions pass its pickling check (`AsyncRolloutWorker.start`: pickle.dumps of the loop's kwargs),
are sent to a spawned child, and scored there by its `_AsyncRolloutLoop._score_group` (the three
concurrently, in threads) on a conversational group; its summed reward equals `pgrpo train`'s
RewardEvaluator item by item in all three modes, with one computation per group.

The trainer itself needs a vLLM server for generation, which this CPU machine cannot run: the
generation side is not exercised here."""

from __future__ import annotations

import multiprocessing
import pickle

import pytest

from engines.engine_cases import MODES, batch, receive, reference, trl_async_score_in_child
from pgrpo.config import ConfigError
from pgrpo.engines import PosteriorReward
from pgrpo.engines.trl_async import make_async_reward_funcs

pytest.importorskip("trl.experimental.async_grpo.async_rollout_worker")


@pytest.mark.parametrize("mode", MODES)
def test_async_grpo_scores_the_trainers_rewards_in_its_spawned_child(mode, recipe_for):
    recipe = recipe_for(mode)
    ids, texts = batch()
    loop_kwargs = {"reward_funcs": make_async_reward_funcs(PosteriorReward(recipe, require_served_rm=True))}
    pickle.dumps(loop_kwargs)  # AsyncRolloutWorker.start's own check
    prompts = [[{"role": "user", "content": f"solve {t}"}] for t in ids]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=trl_async_score_in_child, args=(loop_kwargs, prompts, completions, ids, child))
    proc.start()
    try:
        metrics, evaluations = receive(proc, parent, 300)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    want = reference(recipe, ids, texts)
    assert [m["reward"] for m in metrics] == pytest.approx([w.total for w in want], abs=1e-5)
    for name in ("format", "outcome", "thinking"):
        assert [m[f"rewards/{name}"] for m in metrics] == pytest.approx([getattr(w, name) for w in want], abs=1e-5)
    assert evaluations == 1  # three functions in three threads, one computation of the group


def test_a_local_rm_is_refused_for_the_cuda_free_child(tmp_path, tiny_rm_path):
    from engines.engine_cases import write_recipe

    recipe = write_recipe(tmp_path / "local.yaml", "posterior", None, rm_path=tiny_rm_path)
    with pytest.raises(ConfigError, match="reward.rm_url"):
        make_async_reward_funcs(PosteriorReward(recipe))
