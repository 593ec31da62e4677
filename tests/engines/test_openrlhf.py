"""OpenRLHF's OWN remote-reward client (SingleTurnAgentExecutor of openrlhf 0.11.2, installed from the
registry with --no-deps) against `pgrpo reward serve`'s POST /get_reward and against our `reward_func`
file: queries built exactly as its executor builds them (prompt + response decoded WITH special
tokens), rewards equal item by item to `pgrpo train`'s in-process RewardEvaluator on the same
completions, in all three modes. The route keeps our services' token rule and names bad labels.

openrlhf is installed without its dependencies (it pins torch, deepspeed, flash-attn) by
scripts/install.sh, so `make test` and CI run these tests (a missing openrlhf fails them there:
PGRPO_REQUIRE_ENGINES); elsewhere, without it, they skip, saying so."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from engines.engine_cases import require_engine  # noqa: E402

require_engine("openrlhf.utils.agent", "openrlhf not installed: pip install --no-deps openrlhf==0.11.2 "
                                                   "&& pip install -e '.[engines]' (recipes/README.md)")

from openrlhf.utils.agent import SingleTurnAgentExecutor  # noqa: E402

import pgrpo.engines.openrlhf as openrlhf_hook  # noqa: E402
from engines.engine_cases import MODES, ROOT, TINY_DATA, batch, reference  # noqa: E402
from pgrpo.engines import RECIPE_ENV, PosteriorReward  # noqa: E402
from pgrpo.engines.openrlhf import GET_REWARD_PATH, BackgroundRewardService  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, tiny_tokenizer):
    path = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer.save_pretrained(path)
    return str(path)


def queries(tokenizer, ids: list[str], texts: list[str]) -> tuple[list[str], list[str]]:
    """(queries, prompts) as SingleTurnAgentExecutor.execute makes them from a prompt and its generation."""
    from pgrpo.train.config import load_train_config
    from pgrpo.train.tasks import code_prompt, load_targets

    config = load_train_config(None, ["output_dir=unused", f"data.source={TINY_DATA}"])
    targets = load_targets(config)
    prompts = [code_prompt(targets[t], tokenizer, config.data) for t in ids]  # type: ignore[arg-type]  # code targets
    out = []
    for prompt, text in zip(prompts, texts):
        prompt_ids = tokenizer(text=prompt, add_special_tokens=False)["input_ids"]
        action_ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        out.append(tokenizer.decode(prompt_ids + action_ids, skip_special_tokens=False))
    return out, prompts


@pytest.mark.parametrize("mode", MODES)
def test_openrlhfs_client_gets_the_trainers_rewards(mode, recipe_for, tiny_tokenizer, tokenizer_dir, monkeypatch):
    recipe = recipe_for(mode)
    ids, texts = batch()
    query, prompts = queries(tiny_tokenizer, ids, texts)
    assert tiny_tokenizer.eos_token in query[0]  # special tokens travel; the route strips them
    want = [r.total for r in reference(recipe, ids, texts)]

    with BackgroundRewardService(PosteriorReward(recipe), tokenizer=tokenizer_dir) as svc:
        executor = SingleTurnAgentExecutor(remote_rm_url=svc.url + GET_REWARD_PATH)
        (reply,) = asyncio.run(executor._fetch_rewards_via_http(query, prompts, ids))
    assert reply["rewards"] == pytest.approx(want, abs=1e-5) and reply["scores"] == reply["rewards"]
    assert reply["extra_logs"]["outcome"] == [1.0, 0.0, 0.0] * 4
    assert reply["extra_logs"]["gated"] == ([0.0, 1.0, 1.0] * 4 if mode == "posterior" else [0.0] * 12)

    monkeypatch.setenv(RECIPE_ENV, str(recipe))
    monkeypatch.setenv(openrlhf_hook.TOKENIZER_ENV, tokenizer_dir)
    executor = SingleTurnAgentExecutor(remote_rm_url=str(ROOT / "recipes" / "openrlhf" / "reward_func.py"))
    assert executor.reward_func is not None
    per_query = asyncio.run(executor._fetch_rewards_via_func(query, prompts, ids))
    assert [r["rewards"][0] for r in per_query] == pytest.approx(want, abs=1e-5)


def test_the_route_keeps_the_token_rule_and_names_bad_labels(recipe_for, tokenizer_dir):
    reward = PosteriorReward(recipe_for("outcome"))
    ids, texts = batch()
    body = {"query": texts[:1], "labels": ids[:1]}
    with BackgroundRewardService(reward, token="s3cret", tokenizer=tokenizer_dir) as svc:
        assert httpx.post(svc.url + GET_REWARD_PATH, json=body).status_code == 401
        ok = httpx.post(svc.url + GET_REWARD_PATH, json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["rewards"] == [2.0]
    with BackgroundRewardService(PosteriorReward(recipe_for("outcome")), tokenizer=tokenizer_dir) as svc:
        url = svc.url + GET_REWARD_PATH
        bad = httpx.post(url, json={"query": ["x"], "labels": ["no/such/task"]})
        assert bad.status_code == 422 and "no/such/task" in bad.json()["detail"]
        missing = httpx.post(url, json={"query": ["x"]})
        assert missing.status_code == 422 and "labels" in missing.json()["detail"]
        wrong_prompt = httpx.post(url, json={"query": ["abc"], "prompts": ["zzz"], "labels": ids[:1]})
        assert wrong_prompt.status_code == 422 and "query[0]" in wrong_prompt.json()["detail"]
