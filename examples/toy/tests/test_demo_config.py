"""The demo's settings and problem pools, without training: arms and editors per world, every stage
pool disjoint by step program, and the weak/strong test separation (no strong test reaches training
in the weak world; evaluation always has the strong tests)."""

from __future__ import annotations

import pytest

from pgrpo.errors import PgrpoError
from pgrpo_toy.demo_config import ARMS, DemoConfig, quick_config
from pgrpo_toy.world import TEST_INPUTS, WEAK_TEST_INPUTS


def _inputs(problems) -> set[tuple]:
    """Every call-case input tuple of `problems`' tests."""
    return {case.inputs for p in problems for case in p.tests.call_cases}


def _owners(pools):
    owner: dict = {}
    for use, tasks in pools.items():
        for task in tasks:
            owner.setdefault(task.steps, set()).add(use)
    return owner


def test_arms_editors_and_tests_per_world():
    weak = DemoConfig("x")
    assert weak.world == "weak" and weak.arm_names == ("outcome", "posterior_honest", "posterior_blind")
    assert [(a.mode, a.rm_editor("weak")) for a in weak.rl_arms] == [
        ("outcome", None), ("posterior", "honest"), ("posterior", "blind")]
    assert weak.editors == ("honest", "blind") and weak.train_tests == "weak"
    assert weak.sft_config.world == "trap"  # the weak world's demos are the trap world's (one cached policy)
    trap = DemoConfig("x", world="trap")
    assert trap.arm_names == ("outcome", "additive", "posterior") and trap.editors == ("blind",)
    assert trap.train_tests == "strong" and ARMS["posterior"].rm_editor("trap") == "blind"
    clean = DemoConfig("x", world="clean")
    assert clean.editors == ("plain",) and clean.train_tests == "strong" and clean.sft_config.world == "clean"
    # an arm with another editor brings its RM along
    mixed = DemoConfig("x", world="trap", arms=("outcome", "posterior_honest"))
    assert mixed.arm_names == ("outcome", "posterior_honest") and mixed.editors == ("blind", "honest")
    with pytest.raises(PgrpoError, match="arms"):
        DemoConfig("x", arms=("outcome", "bogus"))
    with pytest.raises(PgrpoError, match="world"):
        DemoConfig("x", world="dirty")  # type: ignore[arg-type]


def test_generator_is_a_reseeded_sft_policy_except_in_the_quick_budget():
    default = DemoConfig("x")
    assert default.generator_config.seed != default.sft_config.seed
    assert default.generator_config.steps == default.generator_steps
    assert default.generator_config.key() != default.sft_config.key()
    quick = quick_config("x")
    assert quick.generator_seed is None and quick.generator_config == quick.sft_config


@pytest.mark.parametrize("quick", [False, True])
def test_every_stage_pool_is_disjoint_by_step_program(quick):
    from pgrpo_toy.splits import make_splits
    from pgrpo_toy.stages_rm import stage_pools

    config = quick_config("x") if quick else DemoConfig("x")
    pools = stage_pools(config)
    assert all(pools.values()), {k: len(v) for k, v in pools.items()}
    # the SFT policy's and the generator's demonstrations both come from the "sft" split by design:
    # one use (two SFT policies on the same split), disjoint from every other use
    uses = dict(pools)
    uses["sft"] = uses["sft"] + uses.pop("generator_sft")
    shared = {steps: names for steps, names in _owners(uses).items() if len(names) > 1}
    assert not shared, list(shared.items())[:3]
    # and each pool lies inside the split it is meant to come from
    split_of = {t.steps: name for name, tasks in make_splits().by_name.items() for t in tasks}
    expected = {"sft": "sft", "generator_sft": "sft", "rm_pairs": "rm_pairs", "probe": "rm_select",
                "bench": "bench", "rl_train": "rl_train", "eval": "test"}
    assert set(pools) == set(expected)
    for use, tasks in pools.items():
        assert {split_of[t.steps] for t in tasks} == {expected[use]}, use
    assert len(pools["eval"]) == config.eval_problems and len(pools["bench"]) == config.bench_problems
    assert len(pools["rl_train"]) == config.rl_problems
    if not quick:  # the re-seeded generator saw other demonstrations of the same split
        assert [t.steps for t in pools["generator_sft"]] != [t.steps for t in pools["sft"]]


def test_selection_runs_never_read_the_reported_splits():
    from pgrpo_toy.splits import make_splits
    from pgrpo_toy.stages_rm import stage_pools

    pools = stage_pools(DemoConfig("x", evaluate_on="selection"))
    splits = make_splits(0)
    reported = {t.steps for name in ("bench", "test") for t in splits.tasks(name)}
    assert not reported & {t.steps for tasks in pools.values() for t in tasks}
    assert {t.steps for t in pools["eval"]} <= {t.steps for t in splits.tasks("rl_select")}


@pytest.mark.parametrize("quick", [False, True])
def test_no_strong_test_reaches_training_in_the_weak_world(quick):
    from pgrpo_toy.stages_rm import eval_problems, pair_problems, rl_problems, splits_of

    config = quick_config("x") if quick else DemoConfig("x")
    weak = {(x,) for x in WEAK_TEST_INPUTS}
    strong_only = {(x,) for x in TEST_INPUTS} - weak
    assert strong_only  # the strong tests have inputs the weak ones lack (the negative ones)
    rl, pairs = rl_problems(config), pair_problems(config, splits_of(config))
    assert len(rl) == config.rl_problems and len(pairs) == config.pair_problems
    for name, problems in (("rl_problems", rl), ("pair_problems", pairs)):
        assert _inputs(problems) == weak, name  # only the weak call cases ...
        assert all(len(p.tests.call_cases) == len(WEAK_TEST_INPUTS) for p in problems), name
        assert {p.metadata["toy_tests"] for p in problems} == {"weak"}, name
    # ... while evaluation judges with the strong ones
    evaluation = eval_problems(config, splits_of(config))
    assert all([c.inputs for c in p.tests.call_cases] == [(x,) for x in TEST_INPUTS] for p in evaluation)


@pytest.mark.parametrize("world", ["trap", "clean"])
def test_the_control_worlds_train_on_the_strong_tests(world):
    from pgrpo_toy.stages_rm import pair_problems, rl_problems, splits_of

    config = quick_config("x", world=world)
    for problems in (rl_problems(config), pair_problems(config, splits_of(config))):
        assert _inputs(problems) == {(x,) for x in TEST_INPUTS}
        assert {p.metadata["toy_tests"] for p in problems} == {"strong"}


def test_rl_prompts_keep_the_hidden_share_of_their_split():
    from pgrpo_toy.splits import HIDDEN_QUOTA, SPLIT_SIZES
    from pgrpo_toy.stages_rm import rl_problems
    from pgrpo_toy.world import hidden_trap, task_of

    for config in (DemoConfig("x"), quick_config("x")):
        hidden = sum(hidden_trap(task_of(p)) for p in rl_problems(config))
        share = HIDDEN_QUOTA["rl_train"] / SPLIT_SIZES["rl_train"]
        assert abs(hidden - config.rl_problems * share) < 1, (config.rl_problems, hidden)
