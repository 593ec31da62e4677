"""`openai` backend against a real loopback server: `pgrpo serve`'s ChatServer on the tiny model,
and a fault-injecting server (500s, 429, malformed JSON, empty choices, timeouts, server down)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from doubles import FaultInjectingServer, FunctionBackend
from loopback import free_port
from pgrpo.llm import CachedBackend, ChatRequest, make_backend
from pgrpo.llm.server import ChatServer


def _msg(text):
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def tiny_server(tiny_policy_path):
    backend = make_backend("hf", tiny_policy_path, max_batch_size=4, device="cpu")
    server = ChatServer(backend, "127.0.0.1", 0, model_name="tiny").start()
    yield server
    server.stop()


def test_serve_protocol_and_openai_backend(tiny_server, tmp_path):
    with urllib.request.urlopen(f"{tiny_server.base_url}/models", timeout=10) as resp:
        assert json.load(resp)["data"][0]["id"] == "tiny"
    client = make_backend("openai", "tiny", base_url=tiny_server.base_url, concurrency=2, timeout=60)
    cached = CachedBackend(client, tmp_path)
    reqs = [ChatRequest(_msg(f"problem {i}"), temperature=1.0, n=2, seed=i, max_tokens=6) for i in range(3)]
    reqs.append(ChatRequest(_msg("greedy"), max_tokens=6))
    out = cached.generate(reqs)
    assert [len(r.texts) for r in out] == [2, 2, 2, 1] and all(r.ok for r in out)
    assert all(r.completion_tokens > 0 for r in out)
    # same seed through the server = same texts as the local backend
    direct = tiny_server.backend.generate([reqs[0]])[0]
    assert direct.texts == out[0].texts
    again = CachedBackend(client, tmp_path)
    assert [r.texts for r in again.generate(reqs)] == [r.texts for r in out]
    assert again.usage.cache_hits == 4 and again.usage.calls == 0


def test_serve_rejects_bad_requests(tiny_server):
    req = urllib.request.Request(f"{tiny_server.base_url}/chat/completions", data=b'{"messages": "x"}',
                                 headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400
    assert "messages" in json.loads(info.value.read())["error"]["message"]


FAULT_PLAN = {  # last user message -> faults for successive attempts, then success
    "flaky500": ["500", "500"],
    "ratelimited": ["429"],
    "garbled": ["malformed"],
    "hollow": ["empty", "empty"],
    "slow": ["timeout"],
    "always500": ["500"] * 10,
    "alwaysempty": ["empty"] * 10,
    "rejected": ["400"] * 10,
}


def _plan(body, attempt):
    faults = FAULT_PLAN.get(body["messages"][-1]["content"], [])
    return faults[attempt] if attempt < len(faults) else None


@pytest.mark.slow
def test_faults_are_retried_then_reported_per_item(tmp_path):
    scripted = FunctionBackend(lambda r: f"answer to {r.messages[-1]['content']}")
    server = FaultInjectingServer(scripted, _plan, stall_seconds=2.0).start()
    try:
        client = make_backend("openai", "scripted", base_url=server.base_url, concurrency=4, timeout=0.8,
                              max_retries=3)
        names = ["ok", "flaky500", "ratelimited", "garbled", "hollow", "slow", "always500", "alwaysempty", "rejected"]
        cached = CachedBackend(client, tmp_path)
        out = cached.generate([ChatRequest(_msg(n)) for n in names])
        by_name = dict(zip(names, out))
        for name in ["ok", "flaky500", "ratelimited", "garbled", "hollow", "slow"]:
            assert by_name[name].texts == [f"answer to {name}"], (name, by_name[name].error)
        assert "after 4 attempts" in str(by_name["always500"].error) and "HTTP 500" in str(by_name["always500"].error)
        assert f"{server.base_url}/chat/completions" in str(by_name["always500"].error)
        assert "no choices" in str(by_name["alwaysempty"].error)
        assert "after 1 attempt" in str(by_name["rejected"].error) and "HTTP 400" in str(by_name["rejected"].error)
        assert server.attempts["always500"] == 4 and server.attempts["rejected"] == 1
        assert server.attempts["slow"] == 2
        first, second = server.attempt_times["ratelimited"]
        assert second - first >= server.retry_after  # the 429's Retry-After was honoured
        assert cached.usage.failures == 3 and cached.usage.calls == len(names)
        # rerun: the successes are cached; only the failures are tried again
        again = CachedBackend(client, tmp_path)
        again.generate([ChatRequest(_msg(n)) for n in names])
        assert again.usage.cache_hits == 6 and again.usage.calls == 3
    finally:
        server.stop()


def test_server_down_is_reported_per_item():
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = make_backend("openai", "m", base_url=url, max_retries=2, timeout=2)
    out = client.generate([ChatRequest(_msg("a")), ChatRequest(_msg("b"))])
    assert all(not r.ok and "connection error" in str(r.error) and "3 attempts" in str(r.error) for r in out)
    assert all(f"{url}/chat/completions" in str(r.error) for r in out)
