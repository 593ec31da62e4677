"""The demo's settings: `DemoConfig` (the default budget), `quick_config` (the CI budget), `MODES`.

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

from pgrpo.toy.sft import SFTConfig

MODES = ("outcome", "additive", "posterior")
# Which split feeds each use, per `evaluate_on` (pgrpo.toy.splits.SPLITS).
EVAL_SPLIT = {"final": "test", "selection": "rl_select"}
BENCH_SPLIT = {"final": "bench", "selection": "rm_select"}


@dataclass(frozen=True)
class DemoConfig:
    out_dir: str
    quick: bool = False
    cache_dir: str | None = None
    # "trap": the SFT demos and the OD editor use the sign shortcut (docs/demo.md); "clean": the control.
    world: Literal["clean", "trap"] = "trap"
    evaluate_on: Literal["final", "selection"] = "final"
    seeds: tuple[int, ...] = (0,)
    modes: tuple[str, ...] = MODES
    sft: SFTConfig = field(default_factory=SFTConfig)  # its world is set from `world` (sft_config)
    eval_problems: int = 128  # first n tasks of the evaluation split (test: 128)
    eval_samples: int = 8
    pair_problems: int = 1000  # drawn from rm_pairs (with the step mix; identities may repeat)
    # Share of coherence pairs the RM trains on. An aside is a surface feature the RM learns
    # from a few hundred pairs; the rest would crowd out the factual / logic pairs, which
    # need comparing each step with the statement (docs/demo.md, RM experiments).
    coherence_pair_fraction: float = 0.25
    bench_problems: int = 300
    bench_samples: int = 8
    probe_problems: int = 300  # rm_select tasks whose trap / safe ones give the blind-spot probe
    baseline: bool = True  # the score-based RM baseline (pairs labelled by test outcome only)
    baseline_samples: int = 4  # policy samples per rm_pairs problem for the baseline's pairs
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
        if self.world not in ("clean", "trap"):
            raise PgrpoError(f"world: expected 'clean' or 'trap', got {self.world!r}")
        if self.evaluate_on not in EVAL_SPLIT:
            raise PgrpoError(f"evaluate_on: expected one of {sorted(EVAL_SPLIT)}, got {self.evaluate_on!r}")
        if any(not 0 < k < self.rl_steps for k in self.eval_checkpoints):
            raise PgrpoError(f"eval_checkpoints: expected steps in 1..{self.rl_steps - 1}, got {self.eval_checkpoints}")
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise PgrpoError(f"modes (--modes): unknown {unknown}; known: {list(MODES)}")

    @property
    def sft_config(self) -> SFTConfig:
        """The SFT settings with this run's world (part of the policy's cache key)."""
        return dataclasses.replace(self.sft, world=self.world)

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
                             num_generations=4)

def quick_config(out_dir: str, **kwargs: Any) -> DemoConfig:
    """The CI budget: every stage runs, on a few problems and steps."""
    return DemoConfig(out_dir, **{**QUICK, **kwargs})
