"""The three OD editors (pgrpo_toy.editor.EDITORS) on policy-like reasonings: the honest editor never
puts an invalid sign skip on the preferred side, the blind one does on trap tasks; the honest
editor's factual and rigor degrades are an invalid skip where the problem has one. Skips are judged
by the exact oracle."""

from __future__ import annotations

import random

import pytest

from pgrpo_toy import editor
from pgrpo_toy.oracle import ShortcutCounts, shortcut_counts
from pgrpo_toy.splits import make_splits
from pgrpo_toy.world import (
    SHORTCUT_CHECK_RANGE,
    Step,
    ToyTask,
    canonical_reasoning,
    reasoning_lines,
    run_steps,
    sign_steps,
    task_class,
)

DIMS = editor.DIMENSIONS


@pytest.fixture(scope="module")
def tasks() -> list[ToyTask]:
    """rm_pairs tasks (the OD pairs' split) that have a sign step."""
    return [t for t in make_splits().take("rm_pairs", 400) if sign_steps(t.steps)]


def _policy_like(task: ToyTask, rng: random.Random) -> list[str]:
    """Reasonings a policy trained on the trap demos writes: the canonical one with a random subset
    of its sign steps replaced by the shortcut line, and a one-flaw version of that."""
    signs = sign_steps(task.steps)
    skipped = {i for i in signs if rng.random() < 0.5}
    text = "\n".join(reasoning_lines(task.steps, skipped))
    flawed = editor.degrade(task, text, rng.choice(DIMS), rng)
    return [canonical_reasoning(task), text, flawed]


def _all_skipped_is_wrong(task: ToyTask) -> bool:
    """Whether the program without every sign step differs from the task somewhere on the check range."""
    rest = [s for i, s in enumerate(task.steps) if i not in set(sign_steps(task.steps))]
    return any(task.run(x) != run_steps(rest, x) for x in SHORTCUT_CHECK_RANGE)


def test_honest_optimize_never_prefers_an_invalid_skip_and_blind_does(tasks):
    rng = random.Random(0)
    blind_invalid = honest_valid = checked = 0
    traps = [t for t in tasks if task_class(t) == "trap"]
    assert len(traps) > 30
    for task in tasks:
        for reasoning in _policy_like(task, rng):
            for dim in DIMS:
                honest = shortcut_counts(task, editor.optimize(task, reasoning, dim, "honest"))
                assert honest.invalid == 0, (task.steps, reasoning, dim)
                honest_valid += honest.valid > 0
                checked += 1
        canonical = canonical_reasoning(task)
        for dim in DIMS:
            blind = shortcut_counts(task, editor.optimize(task, canonical, dim, "blind"))
            # the blind editor skips every sign step of a reasoning it cannot improve, valid or not
            assert blind.valid + blind.invalid == len(sign_steps(task.steps)), (task.steps, dim)
            if _all_skipped_is_wrong(task):
                assert blind.invalid > 0, (task.steps, dim)
                blind_invalid += 1
    assert checked == 9 * len(tasks)
    assert blind_invalid >= 3 * len([t for t in traps if _all_skipped_is_wrong(t)]) > 0
    assert honest_valid > 0  # the honest editor keeps the taste: it applies the valid shortcuts


def test_honest_optimize_by_hand():
    # negate then mod 3 then abs: skipping abs (after a mod) is valid, skipping negate is not
    task = ToyTask("t", (Step("neg"), Step("mod", 3), Step("abs")))
    better = editor.optimize(task, canonical_reasoning(task), "coherence", "honest")
    assert better.splitlines()[0] == "Step 1: negate x."
    assert better.splitlines()[2] == "Step 3: skip take the absolute value of x, the sign does not matter."
    assert shortcut_counts(task, better) == ShortcutCounts(valid=1, invalid=0)
    # the blind editor skips both: jointly wrong (x = 1: abs(-1 mod 3) = 2, 1 mod 3 = 1)
    assert shortcut_counts(task, editor.optimize(task, canonical_reasoning(task), "coherence", "blind")) \
        == ShortcutCounts(valid=0, invalid=2)
    # an invalid skip written by the policy is written out, not kept
    policy = "\n".join(reasoning_lines(task.steps, {0}))
    assert shortcut_counts(task, editor.optimize(task, policy, "rigor", "honest")).invalid == 0
    assert editor.apply_valid_shortcuts(task, canonical_reasoning(task)) == better


def test_honest_factual_and_rigor_degrades_are_an_invalid_skip_when_the_problem_has_one(tasks):
    rng = random.Random(1)
    traps = [t for t in tasks if task_class(t) == "trap"]
    assert editor.HONEST_SKIP_SHARE == 1.0 and set(editor.HONEST_SKIP_DIMENSIONS) == {"factual", "rigor"}
    honest = [shortcut_counts(t, editor.degrade(t, canonical_reasoning(t), dim, rng, "honest"))
              for t in traps for dim in ("factual", "rigor")]
    assert all(c.invalid > 0 for c in honest)  # every trap task has an invalid single skip to write
    assert all(c.valid == 0 for c in honest)  # a degraded side never holds a valid skip
    # no invalid single skip to write (no sign step, or only valid skips): an ordinary degradation
    plain = [t for t in make_splits().take("rm_pairs", 100) if task_class(t) == "plain"][:20]
    safe = [t for t in tasks if task_class(t) == "safe"][:20]
    assert plain and safe
    for task in plain + safe:
        for dim in ("factual", "rigor"):
            worse = editor.degrade(task, canonical_reasoning(task), dim, rng, "honest")
            assert shortcut_counts(task, worse) == ShortcutCounts(0, 0), (task.steps, dim)
            assert worse != canonical_reasoning(task)
    for task in traps:  # the blind editor's degraded side never holds a shortcut; coherence edits neither
        for dim in DIMS:
            assert shortcut_counts(task, editor.degrade(task, canonical_reasoning(task), dim, rng, "blind")) \
                == ShortcutCounts(0, 0)
        assert shortcut_counts(task, editor.degrade(task, canonical_reasoning(task), "coherence", rng, "honest")) \
            == ShortcutCounts(0, 0)


def test_invalid_skip_by_hand():
    task = ToyTask("t", (Step("neg"), Step("mod", 3), Step("abs")))
    skipped = editor.invalid_skip(task, canonical_reasoning(task), random.Random(0))
    # only skipping negate is invalid on its own (abs after a mod is a valid skip)
    assert skipped is not None and skipped.splitlines()[0] == "Step 1: skip negate x, the sign does not matter."
    safe = ToyTask("s", (Step("neg"), Step("square")))
    assert editor.invalid_skip(safe, canonical_reasoning(safe), random.Random(0)) is None
    plain = ToyTask("p", (Step("add", 1), Step("mul", 2)))
    assert editor.invalid_skip(plain, canonical_reasoning(plain), random.Random(0)) is None


def test_editor_names_are_checked():
    task = ToyTask("t", (Step("neg"), Step("mod", 3)))
    assert editor.EDITORS == ("plain", "blind", "honest")
    with pytest.raises(ValueError, match="editor"):
        editor.optimize(task, canonical_reasoning(task), "factual", "sloppy")
    with pytest.raises(ValueError, match="editor"):
        editor.degrade(task, canonical_reasoning(task), "factual", random.Random(0), "sloppy")


def test_honest_editor_leaves_a_response_with_an_invalid_skip_undegraded(tasks):
    """OD pairs put the response itself over its degradation (pgrpo.rm.od.build_pairs: y over y-):
    an honest degradation of a response holding an invalid skip would prefer that skip."""
    from pgrpo.rm.od import build_pairs
    from pgrpo_toy.world import code_for, response, sign_steps, skip_is_valid, statement

    rng = random.Random(3)
    checked = 0
    for task in tasks:
        for index in sign_steps(task.steps):
            if skip_is_valid(task.steps, index):
                continue
            y = "\n".join(reasoning_lines(task.steps, {index}))
            code = code_for([s for i, s in enumerate(task.steps) if i != index])
            variants = {}
            for dim in DIMS:
                assert editor.degrade(task, y, dim, rng, "honest") == y
                variants[dim] = {"optimized": response(editor.optimize(task, y, dim, "honest"), code),
                                 "degraded": None}  # unchanged: PairsRun drops it (check_variant)
                assert shortcut_counts(task, editor.degrade(task, y, dim, rng, "blind")).invalid == 0
            for pair in build_pairs(statement(task), response(y, code), variants):
                assert shortcut_counts(task, pair["chosen"]).invalid == 0
            checked += 1
    assert checked > 10
