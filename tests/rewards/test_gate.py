"""The posterior gate through the batch evaluator and the TRL adapters, with counting fakes."""

from __future__ import annotations

from typing import Any

import pytest

from pgrpo.data.math import MathProblem
from pgrpo.rewards.batch import RewardEvaluator, group_std
from pgrpo.train.trl_hooks import make_reward_funcs
from pgrpo.verify import Verdict


class FakeParsed:
    def __init__(self, text: str) -> None:
        fields = dict(part.split("=", 1) for part in text.split(";"))
        self.format_ok = fields["fmt"] == "1"
        self.reasoning = fields["why"]
        self.passes = fields["pass"] == "1"
        self.rm = float(fields["rm"])


class CountingVerify:
    """A BatchVerify reading the verdict embedded in each fake completion."""

    def __init__(self) -> None:
        self.calls = 0
        self.items = 0

    def __call__(self, items):
        self.calls += 1
        self.items += len(items)
        verdicts = []
        for _task, text in items:
            p = FakeParsed(text)
            verdicts.append(Verdict(p.passes, "x", 1.0 if p.passes else 0.25, p.format_ok, p.reasoning, "", ""))
        return verdicts


class CountingRM:
    """Scores a reasoning by the rm= value embedded in it; records every reasoning it sees."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, queries):
        self.seen.extend(q.reasoning for q in queries)
        return [float(q.reasoning.split("@")[1]) for q in queries]


def completion(fmt: int, passes: int, rm: float, tag: str = "r") -> str:
    return f"fmt={fmt};pass={passes};rm={rm};why={tag}@{rm}"


TARGETS = {"p1": MathProblem("p1", "stmt one", ""), "p2": MathProblem("p2", "stmt two", "")}


def make(mode, group_size=4, weight=1.0):
    outcome, rm = CountingVerify(), CountingRM()
    ev = RewardEvaluator(TARGETS, outcome, rm, mode=mode, weight=weight, group_size=group_size)
    return ev, outcome, rm


def test_failing_completion_never_reaches_rm_in_posterior():
    ev, outcome, rm = make("posterior", group_size=2)
    batch, fresh = ev.evaluate(["p1", "p1"], [completion(1, 0, 0.99, "hacky"), completion(1, 1, 0.3, "honest")])
    assert fresh
    assert rm.seen == ["honest@0.3"]  # the failing one was never scored
    assert ev.rm_items == 1
    assert batch.column("thinking") == [0.0, pytest.approx(0.3)]
    assert batch.rewards[0].raw_thinking is None
    assert batch.column("total") == [1.0, pytest.approx(2.3)]
    assert batch.stats.rm_scored == 1


def test_additive_scores_failures_too():
    ev, _, rm = make("additive", group_size=2)
    batch, _ = ev.evaluate(["p1", "p1"], [completion(1, 0, 0.99, "hacky"), completion(1, 1, 0.3, "honest")])
    assert sorted(rm.seen) == ["hacky@0.99", "honest@0.3"]
    assert batch.column("total") == [pytest.approx(1.99), pytest.approx(2.3)]


def test_outcome_mode_never_calls_rm_and_needs_none():
    ev = RewardEvaluator(TARGETS, CountingVerify(), None, mode="outcome", group_size=1)
    batch, _ = ev.evaluate(["p1"], [completion(1, 1, 0.9)])
    assert batch.column("thinking") == [0.0] and batch.column("total") == [2.0]
    with pytest.raises(ValueError, match="needs a thinking reward model"):
        RewardEvaluator(TARGETS, CountingVerify(), None, mode="posterior")


MIXED = [
    ("p1", completion(1, 1, 0.9)), ("p1", completion(0, 1, 0.4)), ("p1", completion(1, 0, 0.95)),
    ("p1", completion(0, 0, 0.1)), ("p2", completion(1, 1, 0.2)), ("p2", completion(1, 1, 0.8)),
    ("p2", completion(1, 1, 0.5)), ("p2", completion(1, 1, 0.65)),
]


def call_trl_funcs(ev, batch):
    logged: dict[str, float] = {}
    extra: dict[str, list] = {}
    funcs = make_reward_funcs(ev)
    assert [f.__name__ for f in funcs] == ["format", "outcome", "thinking"]
    kwargs: dict[str, Any] = dict(prompts=["prompt"] * len(batch), completions=[c for _, c in batch],
                  completion_ids=None, task_id=[t for t, _ in batch], trainer_state=None,
                  log_metric=logged.__setitem__, log_extra=extra.__setitem__)
    columns = [f(**kwargs) for f in funcs]
    return columns, logged, extra


def test_trl_sum_equals_posterior_formula_and_sandbox_runs_once():
    ev, outcome, rm = make("posterior", group_size=4)
    (fmt, out, think), logged, extra = call_trl_funcs(ev, MIXED)
    assert outcome.calls == 1 and outcome.items == len(MIXED)  # one sandbox pass for 3 functions
    assert ev.evaluations == 1
    for i, (_, text) in enumerate(MIXED):
        p = FakeParsed(text)
        r_f, r_o, r_t = float(p.format_ok), float(p.passes), p.rm
        assert fmt[i] + out[i] + think[i] == pytest.approx(r_f + r_o + r_o * r_t, abs=1e-6)
    assert len(rm.seen) == 6  # only the six passing completions
    assert logged["outcome/pass_rate"] == pytest.approx(6 / 8)
    assert logged["thinking/rm_scored"] == 6.0
    # Group p2 is all-correct: constant without thinking, varied with it.
    assert logged["gate/frac_zero_std_groups_no_thinking"] == 0.5
    assert logged["gate/frac_zero_std_groups"] == 0.0
    assert set(logged) >= {"time/sandbox_s_max", "time/rm_s_mean", "outcome/pass_fraction_mean", "sandbox/timeouts"}
    assert extra["status"] == ["x"] * 8


def test_all_correct_group_has_advantage_only_through_thinking():
    ev, _, _ = make("posterior", group_size=4)
    (fmt, out, think), _, _ = call_trl_funcs(ev, MIXED)
    group = slice(4, 8)
    without = [f + o for f, o in zip(fmt[group], out[group])]
    with_thinking = [f + o + t for f, o, t in zip(fmt[group], out[group], think[group])]
    # GRPO's advantage (R_i - mean) / (std + eps): zero for every completion without thinking.
    assert group_std(without) == 0.0
    mean, std = sum(with_thinking) / 4, group_std(with_thinking)
    adv = [(r - mean) / (std + 1e-4) for r in with_thinking]
    assert all(abs(a) > 0.1 for a in adv)
    # Ordered by the RM's score, since only the thinking term differs inside the group.
    assert sorted(range(4), key=lambda i: adv[i]) == sorted(range(4), key=lambda i: think[group][i])


def test_cache_is_per_batch():
    ev, outcome, _ = make("posterior", group_size=1)
    ev.evaluate(["p1"], [completion(1, 1, 0.5)])
    ev.evaluate(["p1"], [completion(1, 1, 0.5)])
    assert outcome.calls == 1
    ev.evaluate(["p1"], [completion(1, 1, 0.6)])
    assert outcome.calls == 2


def test_bad_rm_score_and_unknown_task_rejected():
    ev, _, _ = make("posterior", group_size=1)
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        ev.evaluate(["p1"], [completion(1, 1, 1.5)])
    with pytest.raises(KeyError, match="unknown task id 'zz'"):
        ev.evaluate(["zz"], [completion(1, 1, 0.5)])


def test_conversational_completions_and_missing_task_id():
    ev, _, _ = make("outcome", group_size=1)
    f = make_reward_funcs(ev)[1]
    assert f(prompts=["x"], completions=[[{"role": "assistant", "content": completion(1, 1, 0.1)}]],
             task_id=["p1"]) == [1.0]
    with pytest.raises(ValueError, match="task_id"):
        f(prompts=["x"], completions=["a"])


def test_identical_batch_on_a_later_step_is_logged_again_but_not_recomputed():
    ev, outcome, _ = make("posterior", group_size=4)
    _, first_log, _ = call_trl_funcs(ev, MIXED)
    _, second_log, _ = call_trl_funcs(ev, MIXED)  # same completions on the next step
    assert outcome.calls == 1  # served from the cache
    assert "outcome/pass_rate" in second_log and second_log == first_log  # but the step still logs
