"""Splits of the toy task space by task identity: which step programs each demo stage may use.

Owns `SPLITS`, `STEP_MIX`, `SPLIT_SIZES`, `task_space` (every task of 2 or 3 steps with no
immediate repeat of an op type, in a fixed order), `Splits` / `make_splits` (one seeded
partition of that space), `draw` (n items of a split, reusing its tasks once they run out) and
`split_problems`. Identity is the step tuple, not the id or the sampling seed: no step program
is in two splits. The fixed-size splits have exactly the `STEP_MIX` share of 2- and 3-step
tasks, and each split's order interleaves the strata so that every prefix keeps the mix (within
one task): a smaller config (`--quick`) takes prefixes of the same splits and stays disjoint.
"sft" and "rm_pairs" share the rest of the space 2:1 per stratum; there are few 2-step tasks,
so their tail is 3-step only and `draw` (which keeps the mix, reusing 2-step tasks) is the way
to use them. One-step tasks are left out: only 19 exist, too few to split seven ways.
The splits the study's endpoints read ("test", "rl_train", "rl_select") also hold a fixed number
of hidden-trap tasks (`HIDDEN_QUOTA`, pgrpo_toy.world.hidden_trap: the weak tests miss an
invalid skip), spread through the split's order so every prefix keeps that share within one task;
their other tasks keep the step mix. The other splits take tasks as they come (their hidden
share is whatever the rest of the space has).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from pgrpo.data import Problem
from pgrpo.errors import PgrpoError
from pgrpo_toy.world import (
    TASK_CLASSES,
    Step,
    TestStrength,
    ToyTask,
    all_steps,
    hidden_trap,
    steps_ok,
    task_class,
    to_problem,
)

SPLITS = ("sft", "rm_pairs", "rm_select", "bench", "rl_train", "rl_select", "test")
# 294 two-step tasks only: one in eight keeps enough of them for every split.
STEP_MIX: dict[int, float] = {2: 0.125, 3: 0.875}
# Distinct tasks of the fixed-size splits; "sft" and "rm_pairs" share the rest (SHARED_RATIO).
# "test" is large so the task term of the study's intervals is small next to seed noise.
SPLIT_SIZES: dict[str, int] = {"test": 512, "rl_select": 64, "rl_train": 128, "bench": 300, "rm_select": 300}
# Hidden-trap tasks in each endpoint split (of 489 in the space): a quarter of the test split
# (the primary endpoint's tasks), half of the RL prompts (so RL meets the pattern where it matters).
HIDDEN_QUOTA: dict[str, int] = {"test": 128, "rl_train": 64, "rl_select": 16}
SHARED_RATIO: dict[str, int] = {"sft": 2, "rm_pairs": 1}


def task_space(lengths: Sequence[int] = tuple(STEP_MIX)) -> dict[int, list[tuple[Step, ...]]]:
    """Every step tuple of each length (no immediate repeat of an op type), in a fixed order."""
    steps = all_steps()
    return {k: [t for t in itertools.product(steps, repeat=k) if steps_ok(t)] for k in lengths}


def mix_schedule(n: int, available: dict[int, int] | None = None,
                 shares: dict[int, float] | None = None) -> list[int]:
    """The stratum of each of `n` positions: each next position goes to the stratum furthest
    below its share (`shares`, default STEP_MIX: step counts), so every prefix is within one item
    of the mix. A stratum whose `available` count is used up gets no more positions."""
    shares = STEP_MIX if shares is None else shares
    counts = dict.fromkeys(shares, 0)
    out = []
    for i in range(n):
        open_ = [k for k in shares if available is None or counts[k] < available[k]]
        if not open_:
            raise PgrpoError(f"mix_schedule: only {i} items available, {n} asked")
        k = max(open_, key=lambda s: ((i + 1) * shares[s] - counts[s], -s))
        counts[k] += 1
        out.append(k)
    return out


@dataclass(frozen=True)
class Splits:
    """A partition of the task space: `by_name[split]` = its tasks, ids `toy-{split}/{i}`, in the
    mix-keeping order (see the module docstring)."""

    seed: int
    by_name: dict[str, tuple[ToyTask, ...]]

    def __post_init__(self) -> None:
        owner: dict[tuple[Step, ...], str] = {}
        for name in SPLITS:
            if name not in self.by_name:
                raise PgrpoError(f"Splits: missing split {name!r}")
            for task in self.by_name[name]:
                if len(task.steps) not in STEP_MIX:
                    raise PgrpoError(f"Splits: task {task.task_id} has {len(task.steps)} steps; "
                                     f"splits hold {sorted(STEP_MIX)}-step tasks")
                other = owner.setdefault(task.steps, name)
                if other != name:
                    raise PgrpoError(f"Splits: task {task.task_id} {task.steps} is also in split {other!r}")
        sizes = {name: len(self.by_name[name]) for name in SPLITS}
        if len(owner) != sum(sizes.values()):
            raise PgrpoError(f"Splits: a step program repeats inside a split ({sizes})")

    def tasks(self, name: str) -> list[ToyTask]:
        return list(self.by_name[_known(name)])

    def take(self, name: str, n: int) -> list[ToyTask]:
        """The first `n` tasks of split `name` (a prefix keeps the step mix)."""
        tasks = self.by_name[_known(name)]
        if not 0 <= n <= len(tasks):
            raise PgrpoError(f"split {name!r} has {len(tasks)} tasks, {n} asked; use draw() to reuse tasks")
        return list(tasks[:n])

    def sizes(self) -> dict[str, int]:
        return {name: len(self.by_name[name]) for name in SPLITS}

    def step_mix(self, name: str, n: int | None = None) -> dict[int, float]:
        """Share of each step count among the split's (first `n`) tasks."""
        return mix_of(self.by_name[_known(name)][:n])


def _known(name: str) -> str:
    if name not in SPLITS:
        raise PgrpoError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
    return name


def mix_of(tasks: Sequence[ToyTask]) -> dict[int, float]:
    """Share of each STEP_MIX step count among `tasks` (zeros for none)."""
    n = max(1, len(tasks))
    return {k: sum(len(t.steps) == k for t in tasks) / n for k in STEP_MIX}


def make_splits(seed: int = 0) -> Splits:
    """The one partition every demo config uses (deterministic in `seed`): the HIDDEN_QUOTA splits
    first (their hidden-trap tasks, then the rest in the step mix), then the other fixed splits in
    the step mix, then "sft" and "rm_pairs" share what is left."""
    space = task_space()
    hidden: dict[int, list[tuple[Step, ...]]] = {}
    strata: dict[int, list[tuple[Step, ...]]] = {}
    for k, tuples in space.items():
        pool = list(tuples)
        random.Random(f"toy-splits:{seed}:{k}").shuffle(pool)
        is_hidden = [hidden_trap(ToyTask("", t)) for t in pool]
        hidden[k] = [t for t, h in zip(pool, is_hidden) if h]
        strata[k] = [t for t, h in zip(pool, is_hidden) if not h]
    hidden_pool = [t for k in STEP_MIX for t in hidden[k]]
    random.Random(f"toy-splits:{seed}:hidden").shuffle(hidden_pool)
    ordered: dict[str, list[tuple[Step, ...]]] = {}
    for name, quota in HIDDEN_QUOTA.items():
        if quota > len(hidden_pool):
            raise PgrpoError(f"make_splits: not enough hidden-trap tasks for split {name!r}")
        mine, hidden_pool = hidden_pool[:quota], hidden_pool[quota:]
        rest = _take_in_mix(strata, SPLIT_SIZES[name] - quota, name)
        share = quota / SPLIT_SIZES[name]
        flags = mix_schedule(SPLIT_SIZES[name], shares={1: share, 0: 1 - share})
        hid, other = iter(mine), iter(rest)
        ordered[name] = [next(hid) if f else next(other) for f in flags]
    for k in STEP_MIX:  # the remaining hidden tasks go back to their step stratum, at random places
        back = [t for t in hidden_pool if len(t) == k]
        pool = strata[k] + back
        random.Random(f"toy-splits:{seed}:{k}:rest").shuffle(pool)
        strata[k] = pool
    for name, size in SPLIT_SIZES.items():
        if name not in ordered:
            ordered[name] = _take_in_mix(strata, size, name)
    total = sum(SHARED_RATIO.values())
    shared: dict[str, dict[int, list[tuple[Step, ...]]]] = {name: {} for name in SHARED_RATIO}
    for k, rest in strata.items():
        start = 0
        for i, (name, share) in enumerate(SHARED_RATIO.items()):
            end = len(rest) if i == len(SHARED_RATIO) - 1 else start + len(rest) * share // total
            shared[name][k] = rest[start:end]
            start = end
    for name, parts in shared.items():
        pools = {k: iter(parts[k]) for k in STEP_MIX}
        n = sum(len(v) for v in parts.values())
        ordered[name] = [next(pools[k]) for k in mix_schedule(n, {k: len(parts[k]) for k in STEP_MIX})]
    by_name = {name: tuple(ToyTask(f"toy-{name}/{i}", steps) for i, steps in enumerate(ordered[name]))
               for name in SPLITS}
    return Splits(seed, by_name)


def _take_in_mix(strata: dict[int, list[tuple[Step, ...]]], n: int, name: str) -> list[tuple[Step, ...]]:
    """`n` step programs off the front of `strata` (consumed), in the STEP_MIX order."""
    order = mix_schedule(n)
    out = []
    for k in order:
        if not strata[k]:
            raise PgrpoError(f"make_splits: not enough {k}-step tasks for split {name!r}")
        out.append(strata[k].pop(0))
    return out


def draw(splits: Splits, name: str, n: int, seed: int) -> list[ToyTask]:
    """`n` items from split `name` in the STEP_MIX (every prefix within one item of it): each
    stratum's tasks in a seeded shuffle, distinct until the stratum runs out, then reshuffled and
    reused. Item ids `toy-{name}/s{seed}/{i}` are unique; step programs may repeat, but only
    within the split."""
    tasks = splits.tasks(name)
    rng = random.Random(f"toy-draw:{splits.seed}:{name}:{seed}")
    pools = {k: [t.steps for t in tasks if len(t.steps) == k] for k in STEP_MIX}
    empty = [k for k, pool in pools.items() if not pool]
    if empty and n:
        raise PgrpoError(f"split {name!r} has no {empty[0]}-step task to draw")
    queues: dict[int, list[tuple[Step, ...]]] = {k: [] for k in STEP_MIX}
    out = []
    for i, k in enumerate(mix_schedule(n)):
        if not queues[k]:
            queues[k] = list(pools[k])
            rng.shuffle(queues[k])
        out.append(ToyTask(f"toy-{name}/s{seed}/{i}", queues[k].pop()))
    return out


def split_problems(splits: Splits, name: str, n: int | None = None, seed: int | None = None,
                   tests: TestStrength = "strong") -> list[Problem]:
    """Problems of split `name`: all its tasks (n None), its first `n` (seed None), or
    `draw(splits, name, n, seed)` (seed given); with the strong tests or the weak ones."""
    if n is None:
        tasks = splits.tasks(name)
    elif seed is None:
        tasks = splits.take(name, n)
    else:
        tasks = draw(splits, name, n, seed)
    return [to_problem(t, tests) for t in tasks]


def class_shares(tasks: Sequence[ToyTask]) -> dict[str, float]:
    """Share of each world task class ("trap", "safe", "plain") among `tasks`, and of hidden-trap
    tasks (a subset of "trap")."""
    n = max(1, len(tasks))
    found = [task_class(t) for t in tasks]
    return {**{c: round(found.count(c) / n, 4) for c in TASK_CLASSES},
            "hidden": round(sum(hidden_trap(t) for t in tasks) / n, 4)}
