"""`RewardEvaluator`'s per-batch cache under concurrent calls (AsyncGRPOTrainer runs the three
reward functions in threads): callers of a batch being computed wait for it (one verification, one
RM call), its failure reaches every one of them, and different batches are computed side by side."""

from __future__ import annotations

import threading
import time

import pytest

from pgrpo.data.math import MathProblem
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.verify import Verdict

TARGETS = {t: MathProblem(t, f"statement {t}", "") for t in ("a", "b")}


class SlowVerify:
    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self.inside = 0
        self.most_inside = 0
        self.lock = threading.Lock()

    def __call__(self, pairs):
        with self.lock:
            self.calls += 1
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.3)
        with self.lock:
            self.inside -= 1
        if self.fail:
            raise RuntimeError("sandbox service http://127.0.0.1:1 is down")
        return [Verdict(True, "passed", 1.0, True, "because", "", "") for _ in pairs]


def _run_concurrently(fn, n):
    results, errors = [], []

    def call(i):
        try:
            results.append(fn(i))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


def test_concurrent_calls_on_one_batch_compute_it_once():
    verify, rm_calls = SlowVerify(), []
    evaluator = RewardEvaluator(TARGETS, verify, lambda qs: rm_calls.append(len(qs)) or [0.5] * len(qs))
    results, errors = _run_concurrently(lambda i: evaluator.evaluate(["a", "b"], ["x", "y"]), 3)
    assert not errors and verify.calls == 1 and rm_calls == [2] and evaluator.evaluations == 1
    assert sorted(fresh for _, fresh in results) == [False, False, True]
    assert len({id(batch) for batch, _ in results}) == 1


def test_a_failure_reaches_every_waiting_caller_and_is_not_cached():
    verify = SlowVerify(fail=True)
    evaluator = RewardEvaluator(TARGETS, verify, None, mode="outcome")
    results, errors = _run_concurrently(lambda i: evaluator.evaluate(["a"], ["x"]), 3)
    assert not results and len(errors) == 3 and all("127.0.0.1:1" in str(e) for e in errors)
    assert verify.calls == 1
    verify.fail = False
    assert evaluator.evaluate(["a"], ["x"])[1] is True  # computed again, not a cached failure


def test_different_batches_are_computed_side_by_side():
    verify = SlowVerify()
    evaluator = RewardEvaluator(TARGETS, verify, None, mode="outcome")
    results, errors = _run_concurrently(lambda i: evaluator.evaluate(["a"], [f"x{i}"]), 3)
    assert not errors and verify.calls == 3 and verify.most_inside > 1
    with pytest.raises(ValueError, match="2 task ids for 1 completions"):
        evaluator.evaluate(["a", "b"], ["x"])
