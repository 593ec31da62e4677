"""Splits by task identity: disjoint step programs, the step mix in every prefix, deterministic draws."""

from __future__ import annotations

import pytest

from pgrpo.errors import PgrpoError
from pgrpo.toy.splits import (
    SPLIT_SIZES,
    SPLITS,
    STEP_MIX,
    Splits,
    draw,
    make_splits,
    mix_of,
    mix_schedule,
    split_problems,
    task_space,
)
from pgrpo.toy.world import ToyTask, task_of


@pytest.fixture(scope="module")
def splits() -> Splits:
    return make_splits()


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


def test_sizes_and_exact_mix_of_fixed_splits(splits):
    sizes = splits.sizes()
    for name, size in SPLIT_SIZES.items():
        assert sizes[name] == size
        assert splits.step_mix(name) == STEP_MIX
    space = task_space()
    assert sum(sizes.values()) == sum(len(v) for v in space.values())  # the whole space is used
    assert sizes["sft"] == pytest.approx(2 * sizes["rm_pairs"], abs=2)


@pytest.mark.parametrize("name", SPLITS)
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
    assert mix_schedule(8) == [3, 2, 3, 3, 3, 2, 3, 3]
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
        splits.take("test", 129)
    with pytest.raises(PgrpoError, match="unknown split"):
        splits.tasks("train")
    problems = split_problems(splits, "rl_select", 10)
    assert [task_of(p).steps for p in problems] == [t.steps for t in splits.take("rl_select", 10)]
    drawn = split_problems(splits, "rm_pairs", 20, seed=4)
    assert [task_of(p).steps for p in drawn] == [t.steps for t in draw(splits, "rm_pairs", 20, 4)]
    assert len(split_problems(splits, "bench")) == 300


def test_overlapping_partition_is_refused(splits):
    by_name = {n: tuple(splits.tasks(n)) for n in SPLITS}
    by_name["test"] = by_name["test"] + (ToyTask("x", by_name["bench"][0].steps),)
    with pytest.raises(PgrpoError, match="bench"):
        Splits(0, by_name)
