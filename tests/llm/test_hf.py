"""The hf backend on the tiny local policy: batching, n samples, seeds, stop strings, token limits."""

from __future__ import annotations

import pytest

from pgrpo.llm import ChatRequest, make_backend
from pgrpo.llm.base import BackendError
from pgrpo.llm.hf import completion_length, truncate_at_stop


@pytest.fixture(scope="module")
def hf(tiny_policy_path):
    return make_backend("hf", tiny_policy_path, max_batch_size=3, device="cpu")


def _msg(text):
    return [{"role": "user", "content": text}]


def test_generate_shapes_order_and_determinism(hf):
    reqs = [
        ChatRequest(_msg("write add"), max_tokens=8),
        ChatRequest(_msg("short"), temperature=1.0, n=4, seed=7, max_tokens=6),
        ChatRequest(_msg("a much longer prompt so that left padding is needed"), temperature=1.0, n=2, seed=7,
                    max_tokens=6),
        ChatRequest(_msg("greedy twice"), n=2, max_tokens=5),
    ]
    out = hf.generate(reqs)
    assert [len(r.texts) for r in out] == [1, 4, 2, 2]
    assert all(r.ok for r in out)
    assert out[3].texts[0] == out[3].texts[1]  # greedy samples are identical
    assert len(set(out[1].texts)) > 1  # sampling gives different texts
    for r, req in zip(out, reqs):
        assert 0 < r.completion_tokens <= req.max_tokens * len(r.texts)
        assert r.prompt_tokens > 0
    again = hf.generate(reqs)
    assert [r.texts for r in again] == [r.texts for r in out]
    assert hf.generate([reqs[0]])[0].texts == out[0].texts  # greedy does not depend on the batch


def test_stop_strings_are_cut(hf):
    free = hf.generate([ChatRequest(_msg("x"), temperature=1.0, seed=1, max_tokens=30)])[0].text
    assert len(free) > 2
    stop = free[len(free) // 2]
    cut = hf.generate([ChatRequest(_msg("x"), temperature=1.0, seed=1, max_tokens=30, stop=(stop,))])[0].text
    assert stop not in cut
    assert truncate_at_stop("abc<END>def</x>", ["</x>", "<END>"]) == "abc"


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(BackendError, match="does not exist"):
        make_backend("hf", str(tmp_path / "nope"))


def test_seeded_samples_spanning_several_batches_are_distinct(tiny_policy_path):
    hf = make_backend("hf", tiny_policy_path, max_batch_size=2)
    req = ChatRequest(_msg("sample me"), temperature=1.0, n=6, seed=0, max_tokens=12)
    texts = hf.generate([req])[0].texts
    assert len(texts) == 6
    assert texts[0:2] != texts[2:4] and texts[2:4] != texts[4:6]  # each batch draws fresh samples
    assert hf.generate([req])[0].texts == texts  # and the seed still makes it reproducible


def test_a_completion_ends_at_its_first_eos_and_keeps_a_pad_sampled_mid_text():
    eos, pad = 2, 0
    assert completion_length([5, 6, eos, pad, pad], eos, pad) == 3  # eos counted, the pads after it not
    assert completion_length([5, pad, 6, eos, pad], eos, pad) == 4  # a mid-text pad is a token
    assert completion_length([5, 6, 9, pad, pad], eos, pad) == 3  # ended by another stop id: trailing pads dropped
    assert completion_length([5, 6, 7], eos, pad) == 3  # max_tokens reached
    assert completion_length([5, eos, eos], eos, eos) == 2  # pad == eos: the first one ends it
    assert completion_length([5, 6], None, None) == 2
