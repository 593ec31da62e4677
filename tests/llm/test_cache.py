"""ChatRequest keys, CachedBackend: hits, resumption after a crash, per-item failures, usage."""

from __future__ import annotations

import pytest

from doubles import FunctionBackend
from pgrpo.llm import CachedBackend, ChatRequest, ChatResult, make_backend
from pgrpo.llm.base import BackendError, ChatBackend

MSG = [{"role": "user", "content": "hi"}]


def test_cache_key_is_stable_and_sensitive_to_every_field():
    base = ChatRequest(MSG, temperature=0.7, n=2, seed=3)
    assert base.cache_key("hf", "m") == ChatRequest(list(MSG), temperature=0.7, n=2, seed=3).cache_key("hf", "m")
    variants = [
        ChatRequest(MSG, temperature=0.8, n=2, seed=3),
        ChatRequest(MSG, temperature=0.7, n=3, seed=3),
        ChatRequest(MSG, temperature=0.7, n=2, seed=4),
        ChatRequest(MSG, temperature=0.7, n=2, seed=3, top_p=0.9),
        ChatRequest(MSG, temperature=0.7, n=2, seed=3, max_tokens=10),
        ChatRequest(MSG, temperature=0.7, n=2, seed=3, stop=("x",)),
        ChatRequest([{"role": "user", "content": "hi!"}], temperature=0.7, n=2, seed=3),
    ]
    keys = {v.cache_key("hf", "m") for v in variants} | {base.cache_key("openai", "m"), base.cache_key("hf", "m2")}
    assert len(keys) == len(variants) + 2
    assert base.cache_key("hf", "m") not in keys


def test_request_validation():
    with pytest.raises(ValueError, match="messages"):
        ChatRequest("hello")  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(ValueError, match="role"):
        ChatRequest([{"content": "x"}])
    with pytest.raises(ValueError, match="n must be"):
        ChatRequest(MSG, n=0)


def _echo(req: ChatRequest) -> list[str]:
    text = req.messages[-1]["content"]
    if text.startswith("fail"):
        raise RuntimeError("scripted failure")
    return [f"{text}#{i}" for i in range(req.n)]


def test_cached_backend_hits_dedup_and_failures(tmp_path):
    inner = FunctionBackend(_echo)
    cached = CachedBackend(inner, tmp_path / "cache", chunk_size=2)
    reqs = [ChatRequest([{"role": "user", "content": c}], n=2) for c in ["a", "b", "a", "fail1", "c"]]
    out = cached.generate(reqs)
    assert [r.texts for r in out] == [["a#0", "a#1"], ["b#0", "b#1"], ["a#0", "a#1"], [], ["c#0", "c#1"]]
    assert out[3].error and "scripted failure" in out[3].error
    assert inner.calls == 4  # the duplicate "a" is generated once
    assert cached.usage.failures == 1 and cached.usage.cache_hits == 0
    # a fresh wrapper on the same directory: finished items are free, the failure is retried
    again_fn = FunctionBackend(_echo)
    again = CachedBackend(again_fn, tmp_path / "cache")
    out2 = again.generate(reqs)
    assert [r.cached for r in out2] == [True, True, True, False, True]
    assert again_fn.calls == 1
    assert again.usage.cache_hits == 4 and again.usage.failures == 1
    report = again.usage.format()
    assert "4 cache hits" in report and "1 failures" in report and "scripted failure" in report
    assert again.cache is not None and len(again.cache) == 3


def test_crash_mid_run_keeps_finished_chunks(tmp_path):
    seen = []

    def dies_on_e(req):
        text = req.messages[-1]["content"]
        if text == "e":
            raise KeyboardInterrupt  # simulates a kill: not an Exception, escapes the backend
        seen.append(text)
        return text.upper()

    reqs = [ChatRequest([{"role": "user", "content": c}]) for c in "abcdefg"]
    with pytest.raises(KeyboardInterrupt):
        CachedBackend(FunctionBackend(dies_on_e), tmp_path, chunk_size=2).generate(reqs)
    resumed_fn = FunctionBackend(lambda r: r.messages[-1]["content"].upper())
    resumed = CachedBackend(resumed_fn, tmp_path, chunk_size=2)
    out = resumed.generate(reqs)
    assert [r.text for r in out] == list("ABCDEFG")
    assert resumed.usage.cache_hits == 4  # chunks (a,b) and (c,d) were committed before the crash
    assert resumed_fn.calls == 3
    assert resumed.cache is not None and len(resumed.cache) == 7


class _Broken(ChatBackend):
    name = "broken"
    model = "x"

    def generate(self, requests, progress=False):
        if len(requests) > 1:
            return [ChatResult(["only one"])]
        raise RuntimeError("boom")


def test_backend_bugs_become_per_item_errors(tmp_path):
    cached = CachedBackend(_Broken(), tmp_path, chunk_size=2)
    out = cached.generate([ChatRequest(MSG), ChatRequest(MSG, seed=1), ChatRequest(MSG, seed=2)])
    assert all(not r.ok for r in out)
    assert "1 results for 2 requests" in str(out[0].error) and "boom" in str(out[2].error)
    wrong_n = CachedBackend(FunctionBackend(lambda r: ["x"]), None).generate([ChatRequest(MSG, n=2)])
    assert "expected n=2" in str(wrong_n[0].error)


def test_make_backend_names_unknown_backend_and_bad_option():
    with pytest.raises(BackendError, match="known: .*hf.*openai"):
        make_backend("nope", "m")
    with pytest.raises(BackendError, match="bad option"):
        make_backend("openai", "m", no_such_option=1)
