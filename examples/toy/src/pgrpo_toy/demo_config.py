"""The demo's settings: `DemoConfig` (the default budget), `quick_config` (the CI budget), `MODES`,
and the RL arms (`Arm`, `ARMS`: a reward mode and the editor whose RM gives R_t).

Every setting the lead's selection sweep may choose (RM head and beta, RL learning rate and
steps, coherence share, ...) is a field here. `evaluate_on` says which splits a run reads for its
readouts: "final" reads the held-out test split and the reported toy LCB-RB ("bench"), and is
what the report and study use; "selection" reads only the selection splits (rl_select for the
policies, rm_select for the LCB-RB), so a sweep never touches the reported numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from pgrpo_toy.sft import SFTConfig

MODES = ("outcome", "additive", "posterior")
DEMO_BETAS = (1.0,)


@dataclass(frozen=True)
class Arm:
    """One RL arm: reward `mode`, R_t from the RM trained on `editor`'s OD pairs (None: the
    world's default editor, pgrpo_toy.editor.WORLD_EDITOR; unused by "outcome")."""

    name: str
    mode: str
    editor: str | None = None

    def rm_editor(self, world: str) -> str | None:
        from pgrpo_toy.editor import WORLD_EDITOR

        if self.mode == "outcome":
            return None
        return self.editor or WORLD_EDITOR[world]


ARMS: dict[str, Arm] = {a.name: a for a in (
    Arm("outcome", "outcome"), Arm("additive", "additive"), Arm("posterior", "posterior"),
    Arm("posterior_honest", "posterior", "honest"), Arm("posterior_blind", "posterior", "blind"),
    Arm("additive_honest", "additive", "honest"), Arm("additive_blind", "additive", "blind"))}
# Each world's default arms: the weak world compares outcome with posterior under an honest and a
# blind RM (issue 23's design); the control worlds keep the three modes with their one RM.
WORLD_ARMS: dict[str, tuple[str, ...]] = {"weak": ("outcome", "posterior_honest", "posterior_blind"),
                                          "trap": MODES, "clean": MODES}
# Which split feeds each use, per `evaluate_on` (pgrpo_toy.splits.SPLITS).
EVAL_SPLIT = {"final": "test", "selection": "rl_select"}
BENCH_SPLIT = {"final": "bench", "selection": "rm_select"}


@dataclass(frozen=True)
class DemoConfig:
    out_dir: str
    quick: bool = False
    cache_dir: str | None = None
    # "weak" (issue 23): trap demos, weak training tests, an honest and a blind RM; "trap": the SFT
    # demos and the OD editor use the sign shortcut, strong tests (a control); "clean": no shortcut.
    world: Literal["clean", "trap", "weak"] = "weak"
    evaluate_on: Literal["final", "selection"] = "final"
    seeds: tuple[int, ...] = (0,)
    arms: tuple[str, ...] = ()  # empty: the world's default arms (WORLD_ARMS)
    sft: SFTConfig = field(default_factory=SFTConfig)  # its world is set from `world` (sft_config)
    eval_problems: int = 512  # first n tasks of the evaluation split (test: 512, a quarter hidden-trap)
    eval_samples: int = 2
    pair_problems: int = 1000  # drawn from rm_pairs (with the step mix; identities may repeat)
    # Share of coherence pairs the RM trains on. An aside is a surface feature the RM learns
    # from a few hundred pairs; the rest would crowd out the factual / logic pairs, which
    # need comparing each step with the statement (docs/demo.md, RM experiments).
    coherence_pair_fraction: float = 0.25
    bench_problems: int = 300
    bench_samples: int = 8
    probe_problems: int = 300  # rm_select tasks whose trap / safe ones give the blind-spot probe
    # The OD vs score-based comparison (pgrpo_toy.comparison): the honest-editor OD RM against an RM
    # on pairs labelled by the (training) test outcome, equal distinct pairs and optimizer steps,
    # each one's beta chosen on an rm_select LCB-RB; both benches built by the `generator` policy.
    baseline: bool = True
    baseline_samples: int = 4  # policy samples per rm_pairs problem for the score-based pairs
    # Candidates for each RM's beta, chosen on rm_select (the study's; `pgrpo demo` with one seed
    # uses DEMO_BETAS: one candidate, no selection bench, to fit its 10-minute budget).
    comparison_betas: tuple[float, ...] = (0.5, 1.0, 2.0)
    # The benches' generator: a re-seeded SFT policy (other demos, other init, fewer steps), so
    # neither RM's training pairs come from the policy that wrote the bench. None: the SFT policy
    # itself (the CI budget's shortcut: a second SFT does not fit in it).
    generator_seed: int | None = 1
    generator_steps: int = 600
    # The implicit head (pgrpo.rm.implicit): the scalar head, which reads one vector at the last
    # token, reached at most 0.755 on the toy LCB-RB (docs/demo.md, RM experiments).
    rm_head: Literal["scalar", "implicit"] = "implicit"
    rm_beta: float = 1.0
    rm_epochs: float = 1.0
    rm_learning_rate: float = 1e-4
    rl_problems: int = 128
    rl_steps: int = 40
    # Earlier RL steps whose checkpoints are also evaluated (the selection sweep compares step counts).
    eval_checkpoints: tuple[int, ...] = ()
    rl_prompts_per_step: int = 4
    num_generations: int = 8
    rl_learning_rate: float = 1e-4  # chosen on rl_select (pgrpo demo --select; docs/demo.md)
    thinking_weight: float = 1.0
    max_completion_length: int = 96
    jobs: int = 2  # RL runs in parallel (each is single-threaded: one per core)
    progress: bool = True

    def __post_init__(self) -> None:
        from pgrpo.errors import PgrpoError

        if not 0.0 <= self.coherence_pair_fraction <= 1.0:
            raise PgrpoError(f"coherence_pair_fraction: expected a share in [0, 1], got {self.coherence_pair_fraction}")
        if self.jobs < 1:
            raise PgrpoError(f"jobs: expected a positive integer, got {self.jobs}")
        if self.world not in WORLD_ARMS:
            raise PgrpoError(f"world: expected one of {sorted(WORLD_ARMS)}, got {self.world!r}")
        if self.evaluate_on not in EVAL_SPLIT:
            raise PgrpoError(f"evaluate_on: expected one of {sorted(EVAL_SPLIT)}, got {self.evaluate_on!r}")
        if any(not 0 < k < self.rl_steps for k in self.eval_checkpoints):
            raise PgrpoError(f"eval_checkpoints: expected steps in 1..{self.rl_steps - 1}, got {self.eval_checkpoints}")
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown:
            raise PgrpoError(f"arms (--arms): unknown {unknown}; known: {list(ARMS)}")
        if not self.comparison_betas:
            raise PgrpoError("comparison_betas: give at least one beta")

    @property
    def arm_names(self) -> tuple[str, ...]:
        return self.arms or WORLD_ARMS[self.world]

    @property
    def rl_arms(self) -> tuple[Arm, ...]:
        return tuple(ARMS[a] for a in self.arm_names)

    @property
    def editors(self) -> tuple[str, ...]:
        """The editors whose OD pairs and RM this run trains: every arm's, and in the weak world
        both the honest and the blind one (probes, readouts and the comparison read them)."""
        from pgrpo_toy.editor import WORLD_EDITOR

        wanted = [a.rm_editor(self.world) for a in self.rl_arms]
        base = ["honest", "blind"] if self.world == "weak" else [WORLD_EDITOR[self.world]]
        return tuple(dict.fromkeys([*base, *(e for e in wanted if e)]))

    @property
    def train_tests(self) -> Literal["strong", "weak"]:
        """The tests training sees (RL rewards, score-based pairs): weak only in the weak world."""
        return "weak" if self.world == "weak" else "strong"

    @property
    def sft_config(self) -> SFTConfig:
        """The SFT settings with this run's demonstrations (the weak world's are the trap world's,
        so both share one cached policy): part of the policy's cache key."""
        return dataclasses.replace(self.sft, world="clean" if self.world == "clean" else "trap")

    @property
    def generator_config(self) -> SFTConfig:
        """The benches' generator: the SFT recipe re-seeded, with `generator_steps` steps (the SFT
        policy's own settings when `generator_seed` is None)."""
        if self.generator_seed is None:
            return self.sft_config
        return dataclasses.replace(self.sft_config, seed=self.generator_seed, steps=self.generator_steps)

    @property
    def eval_split(self) -> str:
        return EVAL_SPLIT[self.evaluate_on]

    @property
    def bench_split(self) -> str:
        return BENCH_SPLIT[self.evaluate_on]


# The CI budget, tuned (docs/demo.md) so that the SFT policy passes > 10% of held-out samples and
# the toy LCB-RB has >= 20 pairs, in <= 2 min on 2 cores from a cold cache. Measured on 40 bench
# tasks x 6 samples: 400 SFT steps at lr 5e-3 gave pass@1 0.16 and 2 tasks with an LCB-RB pair;
# at lr 1e-2, 400 steps 0.26 / 13 tasks, 500 steps 0.44 / 21 tasks (56 s of SFT). 60 bench tasks
# leave a margin over 20 pairs (40 gave 25).
QUICK: dict[str, Any] = dict(quick=True, sft=SFTConfig(steps=500, demos=1000, learning_rate=1e-2), eval_problems=16, eval_samples=4,
                             pair_problems=24, bench_problems=60, bench_samples=6, probe_problems=40,
                             baseline_samples=2, rm_epochs=2.0, rl_problems=32, rl_steps=2, rl_prompts_per_step=2,
                             num_generations=4, comparison_betas=(1.0,), generator_seed=None)

def quick_config(out_dir: str, **kwargs: Any) -> DemoConfig:
    """The CI budget: every stage runs, on a few problems and steps."""
    return DemoConfig(out_dir, **{**QUICK, **kwargs})
