"""RewardScorer: batched + length-sorted scoring equals one-at-a-time scoring, order kept, [0,1]."""

from __future__ import annotations

import math
import random

import pytest

from pgrpo.errors import PgrpoError
from pgrpo.rm.scoring import RewardScorer, RMItem


def _items(n: int, seed: int = 0) -> list[RMItem]:
    rng = random.Random(seed)
    words = ["loop", "sum", "return", "check", "list", "index", "value", "edge", "case", "then"]
    items = []
    for i in range(n):
        reasoning = " ".join(rng.choice(words) for _ in range(rng.randint(1, 120)))
        code = None if i % 3 else f"def f(x):\n    return x + {i}"
        items.append(RMItem(f"Problem {i}: " + " ".join(rng.choice(words) for _ in range(rng.randint(2, 30))),
                            reasoning, code))
    return items


@pytest.fixture(scope="module")
def scorers(tiny_rm_path):
    return RewardScorer(tiny_rm_path, batch_size=8, max_length=256), RewardScorer(tiny_rm_path, batch_size=1,
                                                                                  max_length=256)


@pytest.mark.slow
def test_batched_matches_one_at_a_time(scorers):
    batched, single = scorers
    items = _items(16)
    fast = batched.raw_scores(items)
    slow = [single.raw_scores([item])[0] for item in items]
    assert max(abs(a - b) for a, b in zip(fast, slow)) < 1e-5
    # Different items really get different scores, so order preservation is being tested.
    assert len({round(s, 6) for s in fast}) > 12
    assert batched.score(items) == pytest.approx([1 / (1 + math.exp(-s)) for s in fast], abs=1e-6)


def test_order_preserved_and_deterministic(scorers):
    batched, _ = scorers
    items = _items(10, seed=1)
    forward = batched.score(items)
    backward = batched.score(items[::-1])
    assert forward == pytest.approx(backward[::-1], abs=1e-5)
    assert batched.score(items) == forward
    assert all(0.0 <= s <= 1.0 for s in forward)


def test_calls_counts_items(tiny_rm_path):
    scorer = RewardScorer(tiny_rm_path, batch_size=4)
    assert scorer.calls == 0
    scorer.score(_items(5))
    scorer.raw_scores(_items(2))
    assert scorer.calls == 7
    assert scorer.score([]) == [] and scorer.calls == 7


def test_long_inputs_are_truncated_not_failed(tiny_rm_path):
    scorer = RewardScorer(tiny_rm_path, max_length=64)
    long_item = RMItem("problem " * 300, "reasoning " * 300)
    short = RMItem("p", "r")
    scores = scorer.score([long_item, short])
    assert len(scores) == 2 and scorer.truncated == 1
    # Only the kept tail of the reasoning matters: changing the cut-off start changes nothing.
    other = RMItem("problem " * 300, "DIFFERENT START " * 50 + "reasoning " * 300)
    assert scorer.score([other])[0] == pytest.approx(scores[0], abs=1e-6)


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(PgrpoError, match="nope/pgrpo_rm.json: no reward-model manifest"):
        RewardScorer(str(tmp_path / "nope"))


def test_batches_respect_item_and_token_budgets():
    from pgrpo.rm.scoring import RewardScorer

    scorer = RewardScorer.__new__(RewardScorer)  # only the batching rule is under test
    scorer.batch_size, scorer.max_batch_tokens = 3, 100
    lengths = [90, 60, 40, 30, 10, 10, 10, 10]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches = scorer._batches(order, lengths)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches[0] == [0]  # 90 tokens: a second item would pad to 180 > 100
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or lengths[batch[0]] * len(batch) <= 100
    assert [len(b) for b in batches] == [1, 1, 2, 3, 1]
