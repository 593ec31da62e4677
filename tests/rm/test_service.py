"""`pgrpo rm serve` and its client: served scores are the in-process scorer's (both heads), the
manifest travels through /health, the guards hold (token, body and item caps, 4xx naming the
field, the service survives bad requests), a dead service fails the step naming its URL after
the retries (or recovers within them), load spreads over URLs, and recipes are checked
against the served manifest. Every service runs on loopback and is stopped by its test."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import httpx
import pytest

from pgrpo.config import ConfigError
from pgrpo.data.math import MathProblem
from pgrpo.errors import PgrpoError
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.rm.backends import SCORE_PATH
from pgrpo.rm.client import RMClient, RMServiceError
from pgrpo.rm.manifest import RMManifest, read_manifest
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.service import BackgroundService, check_binding
from pgrpo.verify import Verdict

ITEMS = [RMItem(f"Return x plus {i}." * (1 + i % 3), f"Add {i} to x, then return it." * (1 + i % 4),
                f"def f(x):\n    return x + {i}") for i in range(7)]


@pytest.fixture(scope="module")
def implicit_rm_path(tmp_path_factory, tiny_policy_path, nudged_implicit_rm):
    return str(nudged_implicit_rm(tmp_path_factory.mktemp("implicit-rm"), tiny_policy_path))


@pytest.fixture
def scalar_service(tiny_rm_path):
    with BackgroundService(RewardScorer(tiny_rm_path, device="cpu")) as svc:
        yield svc


@pytest.mark.parametrize("head", ["scalar", "implicit"])
def test_served_scores_equal_the_in_process_scorer(head, tiny_rm_path, implicit_rm_path):
    path = tiny_rm_path if head == "scalar" else implicit_rm_path
    local = RewardScorer(path, device="cpu")
    with BackgroundService(RewardScorer(path, device="cpu")) as svc, RMClient(svc.url) as client:
        assert client.manifest == read_manifest(path)
        # one request: the same batches as in process, so bit-identical
        client.items_per_request = len(ITEMS)
        assert client.raw_scores(ITEMS) == local.raw_scores(ITEMS)
        assert client.score(ITEMS) == local.score(ITEMS)
        # many concurrent small requests, grouped by the service's token budget: equal up to rounding
        client.items_per_request = 2
        assert client.score(ITEMS) == pytest.approx(local.score(ITEMS), abs=1e-5)
        # what the manifest says decides whether code reaches the RM, through the service too
        no_code = [dataclasses.replace(i, code=None) for i in ITEMS]
        client.items_per_request = len(ITEMS)
        assert (client.raw_scores(no_code) == client.raw_scores(ITEMS)) is (head == "scalar")
        assert svc.scorer.calls == client.calls == 5 * len(ITEMS)


def test_the_gate_sends_only_passing_completions_and_rewards_match(tiny_rm_path, scalar_service):
    targets = {f"t{i}": MathProblem(f"t{i}", item.statement, "") for i, item in enumerate(ITEMS)}
    texts = [f"<think>{item.reasoning}</think>" for item in ITEMS]

    def verify_fn(pairs):  # every other completion passes
        return [Verdict(i % 2 == 0, "passed" if i % 2 == 0 else "failed", 1.0, True, ITEMS[i].reasoning, "", "")
                for i, _ in enumerate(pairs)]

    def rewards(thinking):
        fn, truncated = thinking
        evaluator = RewardEvaluator(targets, verify_fn, fn, mode="posterior", rm_truncated=truncated)
        return [r.total for r in evaluator.evaluate(list(targets), texts)[0].rewards]

    client = RMClient([scalar_service.url], items_per_request=3, timeout_s=30, retries=0)
    served = rewards((client.score, lambda: client.truncated))
    assert scalar_service.scorer.calls == (len(ITEMS) + 1) // 2  # exactly the passing ones
    scorer = RewardScorer(tiny_rm_path, batch_size=16, max_length=None, device="cpu")
    local = rewards((scorer.score, lambda: scorer.truncated))
    assert served == pytest.approx(local, abs=1e-6)


def test_health_returns_the_manifest(tiny_rm_path, scalar_service):
    health = httpx.get(scalar_service.url + "/health").json()
    assert health["manifest"] == dataclasses.asdict(read_manifest(tiny_rm_path))
    assert health["api_version"] == 1 and health["max_length"] == read_manifest(tiny_rm_path).max_length


def test_a_token_is_required_beyond_loopback_and_checked(tiny_rm_path):
    with pytest.raises(PgrpoError, match="needs a shared token"):
        check_binding("0.0.0.0", None)
    check_binding("0.0.0.0", "t")
    with BackgroundService(RewardScorer(tiny_rm_path, device="cpu"), token="s3cret") as svc:
        body = {"items": [{"statement": "s", "reasoning": "r"}]}
        assert httpx.get(svc.url + "/health").status_code == 401
        assert httpx.post(svc.url + SCORE_PATH, json=body).status_code == 401
        wrong = httpx.post(svc.url + SCORE_PATH, json=body, headers={"Authorization": "Bearer s3creT"})
        assert wrong.status_code == 401 and "authorization" in wrong.json()["detail"]
        ok = httpx.post(svc.url + SCORE_PATH, json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and 0 <= ok.json()["results"][0]["score"] <= 1
        with RMClient(svc.url, token="s3cret") as client:
            assert len(client.score(ITEMS[:2])) == 2
        with RMClient(svc.url, token="nope", retries=3, backoff_s=5) as client:  # 401 is not retried
            start = time.monotonic()
            with pytest.raises(RMServiceError, match=f"{svc.url}.*401"):
                client.score(ITEMS[:1])
            assert time.monotonic() - start < 5


def test_bad_requests_get_a_4xx_naming_the_field_and_the_service_keeps_serving(tiny_rm_path):
    with BackgroundService(RewardScorer(tiny_rm_path, device="cpu"), max_items=4, max_body_bytes=4096) as svc:
        url = svc.url + SCORE_PATH

        def post(**kwargs):
            return httpx.post(url, headers={"content-type": "application/json"}, **kwargs)

        big = post(content=b'{"items": [{"statement": "' + b"x" * 5000 + b'", "reasoning": "r"}]}')
        assert big.status_code == 413 and "body" in big.json()["detail"]
        streamed = post(content=iter([b'{"items": [', b" " * 5000, b"]}"]))  # no content-length: capped while read
        assert streamed.status_code == 413
        cases = {b"{not json": "body", b"[]": "body", b'{"items": [{"statement": "s"}]}': "items[0].reasoning",
                 b'{"items": [{"statement": 1, "reasoning": "r"}]}': "items[0].statement",
                 b'{"items": [{"statement": "s", "reasoning": "r", "kode": "x"}]}': "items[0].kode",
                 b'{"itemz": []}': "itemz", b'{"items": "all"}': "items"}
        for body, field in cases.items():
            reply = post(content=body)
            assert reply.status_code == 422, body
            # one "; "-separated part per error, in pydantic's order (which differs between releases)
            assert any(part.startswith(field) for part in reply.json()["detail"].split("; ")), (body, reply.json())
        plain = httpx.post(url, content=b'{"items": []}', headers={"content-type": "text/plain"})
        assert plain.status_code == 415 and "content-type" in plain.json()["detail"]  # no CORS-free posts
        many = post(json={"items": [{"statement": "s", "reasoning": "r"}] * 5})
        assert many.status_code == 422 and many.json()["detail"].startswith("items: 5 items, at most 4")
        assert post(json={"items": []}).json() == {"api_version": 1, "results": []}
        good = post(json={"items": [{"statement": "s", "reasoning": "r", "code": None}]})
        assert good.status_code == 200 and len(good.json()["results"]) == 1


def test_a_dead_service_fails_naming_its_url_after_the_retries(tiny_rm_path):
    svc = BackgroundService(RewardScorer(tiny_rm_path, device="cpu"))
    client = RMClient(svc.url, retries=2, backoff_s=0.05, timeout_s=5)
    try:
        assert len(client.score(ITEMS)) == len(ITEMS)
        svc.stop()  # killed mid-run
        with pytest.raises(RMServiceError, match=rf"{svc.url} failed after 3 attempts.*rm serve"):
            client.score(ITEMS)
    finally:
        client.close()
        svc.stop()


def test_a_service_back_within_the_retry_budget_recovers(tiny_rm_path):
    scorer = RewardScorer(tiny_rm_path, device="cpu")
    svc = BackgroundService(scorer)
    port = int(svc.url.rsplit(":", 1)[1])
    client = RMClient(svc.url, retries=6, backoff_s=0.2, timeout_s=5)
    expected = client.score(ITEMS)
    svc.stop()
    restarted: list[BackgroundService] = []
    timer = threading.Timer(0.6, lambda: restarted.append(BackgroundService(scorer, port=port)))
    timer.start()
    try:
        assert client.score(ITEMS) == expected
    finally:
        timer.join()
        client.close()
        for s in restarted:
            s.stop()


def _fake_client(urls, handler, **kwargs) -> RMClient:
    client = RMClient(urls, **kwargs)
    client._served = (RMManifest("scalar", "fake", False, 64), 64)
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return client


def test_load_spreads_over_the_urls_and_garbage_is_an_error():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        n = len(__import__("json").loads(request.content)["items"])
        results = [{"raw": 0.0, "score": 0.5, "truncated": False}] * n
        return httpx.Response(200, json={"api_version": 1, "results": results})

    with _fake_client(["http://a:1", "http://b:1"], handler, items_per_request=2) as client:
        assert client.score(ITEMS[:6] + ITEMS[:2]) == [0.5] * 8
    assert sorted(seen) == ["a", "a", "b", "b"]

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"api_version": 1, "results": [{"raw": 1.0, "score": 7.0, "truncated": 0}]})

    with _fake_client(["http://a:1"], garbage, retries=1, backoff_s=0) as client:
        with pytest.raises(RMServiceError, match="http://a:1.*garbage"):
            client.score(ITEMS[:1])

    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"detail": "busy"})

    with _fake_client(["http://a:1", "http://b:1"], failing, retries=2, backoff_s=0) as client:
        with pytest.raises(RMServiceError, match="http://a:1, http://b:1 failed after 3 attempts.*503: busy"):
            client.score(ITEMS[:1])


def _recipe(*overrides):
    from pathlib import Path

    from pgrpo.train.config import load_train_config

    root = Path(__file__).resolve().parents[2]
    return load_train_config(root / "recipes" / "tiny-cpu.yaml", [
        "output_dir=x", f"data.source={root / 'recipes/data/tiny-humaneval.jsonl'}", "reward.build_tiny_rm=false",
        "reward.rm_max_length=null", *overrides])


def test_recipes_with_rm_url_are_checked_against_the_served_manifest(tiny_rm_path, scalar_service):
    from pgrpo.train.config import rm_urls, validate_train_config

    url = scalar_service.url
    validate_train_config(_recipe(f"reward.rm_url={url}"))
    with pytest.raises(ConfigError, match="reward.rm_url: set only one of"):
        validate_train_config(_recipe(f"reward.rm_url={url}", f"reward.rm_path={tiny_rm_path}"))
    with pytest.raises(ConfigError, match=r"reward.rm_url\[1\]: expected an http"):
        validate_train_config(_recipe(f"reward.rm_url={url},ftp://x"))
    with pytest.raises(ConfigError, match=f"reward.rm_max_length: 512, but the service at {url} scores with "
                                          f"max_length={scalar_service.scorer.max_length}"):
        validate_train_config(_recipe(f"reward.rm_url={url}", "reward.rm_max_length=512"))
    assert rm_urls(_recipe(f"reward.rm_url={url}, {url}/").reward) == (url, url)
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(ConfigError, match=f"reward.rm_url: reward-model service {dead} failed"):
        validate_train_config(_recipe(f"reward.rm_url={dead}", "reward.rm_retries=0"))


def test_serve_command_takes_its_defaults_from_the_service(monkeypatch):
    """`pgrpo rm serve` repeats no default: the token budget is rm.service's, the batch size RewardScorer's."""
    from pgrpo import cli
    from pgrpo.rm import scoring, service

    made: dict[str, Any] = {}
    served: dict[str, Any] = {}

    class FakeScorer:
        def __init__(self, path, **kw):
            made.update(kw, path=path)

    monkeypatch.setattr(service, "DEFAULT_BATCH_TOKENS", 1234)
    monkeypatch.setattr(scoring, "RewardScorer", FakeScorer)
    monkeypatch.setattr(service, "serve", lambda scorer, **kw: served.update(kw))
    assert cli.main(["rm", "serve", "--model", "m"]) == 0
    assert served["batch_tokens"] == 1234 and "batch_size" not in made and made["path"] == "m"
    assert cli.main(["rm", "serve", "--model", "m", "--batch-size", "3", "--batch-tokens", "99"]) == 0
    assert served["batch_tokens"] == 99 and made["batch_size"] == 3
