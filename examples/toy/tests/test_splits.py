"""Splits by task identity: disjoint step programs, the step mix in every prefix, the hidden-trap
quotas of the endpoint splits (every prefix keeps their share), deterministic draws, weak/strong
test problems."""

from __future__ import annotations

import pytest

from pgrpo.errors import PgrpoError
from pgrpo_toy.splits import (
    HIDDEN_QUOTA,
    SPLIT_SIZES,
    SPLITS,
    STEP_MIX,
    Splits,
    class_shares,
    draw,
    make_splits,
    mix_of,
    mix_schedule,
    split_problems,
    task_space,
)
from pgrpo_toy.world import TEST_INPUTS, WEAK_TEST_INPUTS, ToyTask, hidden_trap, task_of


@pytest.fixture(scope="module")
def splits() -> Splits:
    return make_splits()


def _plain_part(tasks):
    """The tasks that are not hidden traps (the quota splits keep the step mix among these)."""
    return [t for t in tasks if not hidden_trap(t)]


def test_task_space_counts_and_rules():
    space = task_space()
    # 19 steps: 4 ops x 4 constants + 3 unary ops. Two steps: 19^2 minus 67 same-op pairs.
    assert len(space[2]) == 19 * 19 - (4 * 4 * 4 + 3) == 294
    # Three steps: per 2-step tuple, a third step of another op (15 if the last op takes a constant, else 18).
    assert len(space[3]) == sum(15 if t[-1].spec.constants else 18 for t in space[2])
    assert all(a.op != b.op for tuples in space.values() for t in tuples for a, b in zip(t, t[1:]))


@pytest.mark.parametrize("prefix", [None, 1, 5, 12, 16, 40])
def test_splits_are_disjoint_by_step_tuple(splits, prefix):
    seen: dict = {}
    for name in SPLITS:
        tasks = splits.tasks(name) if prefix is None else splits.take(name, prefix)
        for task in tasks:
            assert seen.setdefault(task.steps, name) == name, (task.steps, name, seen[task.steps])
    # drawn items (reuse) stay inside their split too
    for name in SPLITS:
        own = {t.steps for t in splits.tasks(name)}
        assert {t.steps for t in draw(splits, name, 300, seed=3)} <= own


def test_hidden_trap_tasks_are_spread_over_the_splits_without_overlap(splits):
    # the quota splits take hidden-trap tasks first; every hidden-trap task of the space is in
    # exactly one split (the partition check covers all tasks, this one the quota's source pool)
    space = [steps for tuples in task_space().values() for steps in tuples]
    hidden_space = {steps for steps in space if hidden_trap(ToyTask("", steps))}
    in_splits = [t.steps for name in SPLITS for t in splits.tasks(name) if hidden_trap(t)]
    assert len(in_splits) == len(set(in_splits)) == len(hidden_space)
    assert set(in_splits) == hidden_space


def test_sizes_and_mix_of_fixed_splits(splits):
    sizes = splits.sizes()
    for name, size in SPLIT_SIZES.items():
        assert sizes[name] == size
        tasks = splits.tasks(name)
        # the quota splits: the step mix holds among their other tasks; the rest: over the whole split
        # (within one task: 300 * 1/8 is not whole)
        mixed = _plain_part(tasks) if name in HIDDEN_QUOTA else tasks
        assert abs(sum(len(t.steps) == 2 for t in mixed) - len(mixed) * STEP_MIX[2]) < 1, name
    space = task_space()
    assert sum(sizes.values()) == sum(len(v) for v in space.values())  # the whole space is used
    assert sizes["sft"] == pytest.approx(2 * sizes["rm_pairs"], abs=2)


def test_hidden_trap_quotas_are_exact(splits):
    # issue 23's design: a quarter of the test split, half of the RL prompts are hidden-trap tasks
    assert SPLIT_SIZES["test"] == 512 and HIDDEN_QUOTA["test"] == 128
    assert SPLIT_SIZES["rl_train"] == 128 and HIDDEN_QUOTA["rl_train"] == 64
    for name, quota in HIDDEN_QUOTA.items():
        assert sum(hidden_trap(t) for t in splits.tasks(name)) == quota, name
        assert class_shares(splits.tasks(name))["hidden"] == pytest.approx(quota / SPLIT_SIZES[name], abs=1e-4)


@pytest.mark.parametrize("name", sorted(HIDDEN_QUOTA))
def test_every_prefix_of_a_quota_split_keeps_the_hidden_share(splits, name):
    tasks = splits.tasks(name)
    share = HIDDEN_QUOTA[name] / SPLIT_SIZES[name]
    flags = [hidden_trap(t) for t in tasks]
    for m in range(1, len(tasks) + 1):
        assert abs(sum(flags[:m]) - m * share) < 1, (name, m, sum(flags[:m]))
    # and its other tasks keep the step mix in every prefix of theirs
    rest = _plain_part(tasks)
    for m in range(1, len(rest) + 1):
        twos = sum(len(t.steps) == 2 for t in rest[:m])
        assert abs(twos - m * STEP_MIX[2]) < 1, (name, m, twos)
    assert [t.task_id for t in tasks[:3]] == [f"toy-{name}/{i}" for i in range(3)]


@pytest.mark.parametrize("name", [n for n in SPLITS if n not in HIDDEN_QUOTA])
def test_every_prefix_keeps_the_mix(splits, name):
    tasks = splits.tasks(name)
    n2 = sum(len(t.steps) == 2 for t in tasks)
    # fixed splits: every prefix; shared splits: every prefix until their 2-step tasks run out
    limit = len(tasks) if name in SPLIT_SIZES else int(n2 / STEP_MIX[2])
    for m in range(1, limit + 1):
        twos = sum(len(t.steps) == 2 for t in tasks[:m])
        assert abs(twos - m * STEP_MIX[2]) < 1, (name, m, twos)
    assert [t.task_id for t in tasks[:3]] == [f"toy-{name}/{i}" for i in range(3)]


def test_mix_schedule_by_hand():
    # STEP_MIX 1/8 two-step: position i goes to the stratum furthest below its share, ties to the
    # smaller key; at i = 3 both deficits are 0.5 (4 * 0.125 - 0 and 4 * 0.875 - 3): 2 steps
    assert STEP_MIX == {2: 0.125, 3: 0.875}
    assert mix_schedule(8) == [3, 3, 3, 2, 3, 3, 3, 3]
    # the hidden-share schedule of a quota split (1 = hidden), a quarter: at i = 1 the deficits tie
    # at 0.5 (0 wins), at i = 2 they are 0.75 (hidden) and 0.25; every prefix within one of m / 4
    assert mix_schedule(8, shares={1: 0.25, 0: 0.75}) == [0, 0, 1, 0, 0, 0, 1, 0]
    assert mix_schedule(4, {2: 0, 3: 9}) == [3, 3, 3, 3]
    with pytest.raises(PgrpoError):
        mix_schedule(3, {2: 1, 3: 1})


def test_deterministic_and_seeded(splits):
    again = make_splits()
    assert all(again.tasks(n) == splits.tasks(n) for n in SPLITS)
    other = make_splits(seed=1)
    assert other.tasks("test") != splits.tasks("test")
    assert draw(splits, "sft", 50, seed=2) == draw(again, "sft", 50, seed=2)
    assert draw(splits, "sft", 50, seed=2) != draw(splits, "sft", 50, seed=3)


def test_draw_mix_distinct_then_reuse(splits):
    items = draw(splits, "sft", 4000, seed=0)
    assert mix_of(items) == STEP_MIX
    for m in (1, 7, 100, 999):
        assert abs(sum(len(t.steps) == 2 for t in items[:m]) - m * STEP_MIX[2]) < 1
    assert len({t.task_id for t in items}) == 4000
    twos = [t.steps for t in items if len(t.steps) == 2]
    n2 = sum(len(t.steps) == 2 for t in splits.tasks("sft"))
    assert len(set(twos[:n2])) == n2  # distinct until the stratum runs out ...
    assert len(set(twos)) == n2 < len(twos)  # ... then reused, never beyond the split
    small = draw(splits, "test", 40, seed=1)
    assert len({t.steps for t in small}) == 40 and mix_of(small) == STEP_MIX


def test_take_and_problems(splits):
    with pytest.raises(PgrpoError, match="test"):
        splits.take("test", SPLIT_SIZES["test"] + 1)
    with pytest.raises(PgrpoError, match="unknown split"):
        splits.tasks("train")
    problems = split_problems(splits, "rl_select", 10)
    assert [task_of(p).steps for p in problems] == [t.steps for t in splits.take("rl_select", 10)]
    drawn = split_problems(splits, "rm_pairs", 20, seed=4)
    assert [task_of(p).steps for p in drawn] == [t.steps for t in draw(splits, "rm_pairs", 20, 4)]
    assert len(split_problems(splits, "bench")) == 300


def test_split_problems_carry_the_asked_tests(splits):
    strong = split_problems(splits, "rl_train", 6)
    weak = split_problems(splits, "rl_train", 6, tests="weak")
    assert [p.task_id for p in strong] == [p.task_id for p in weak]
    for s, w in zip(strong, weak):
        task = task_of(s)
        assert [c.inputs for c in s.tests.call_cases] == [(x,) for x in TEST_INPUTS]
        assert [c.inputs for c in w.tests.call_cases] == [(x,) for x in WEAK_TEST_INPUTS]
        assert [c.output for c in w.tests.call_cases] == [task.run(x) for x in WEAK_TEST_INPUTS]
        assert s.metadata["toy_tests"] == "strong" and w.metadata["toy_tests"] == "weak"
    drawn = split_problems(splits, "rm_pairs", 5, seed=0, tests="weak")
    assert all(p.metadata["toy_tests"] == "weak" and len(p.tests.call_cases) == len(WEAK_TEST_INPUTS)
               for p in drawn)


def test_overlapping_partition_is_refused(splits):
    by_name = {n: tuple(splits.tasks(n)) for n in SPLITS}
    by_name["test"] = by_name["test"] + (ToyTask("x", by_name["bench"][0].steps),)
    with pytest.raises(PgrpoError, match="bench"):
        Splits(0, by_name)
