"""`pgrpo demo --study`: the paired seed study of the reward modes, with a stopping rule fixed in advance.

Owns `run_study`: the shared stages once (pgrpo_toy.demo.shared_stages: SFT policy, OD pairs,
RM, toy LCB-RB, blind-spot probe, score-based baseline), then RL in seed stages
(pgrpo_toy.stats.StoppingRule: seeds 0-7, an interim look at the primary comparison - in the
weak world honest posterior - outcome on hidden-trap pass@1 - then seeds 8-11 unless it
stopped), every arm of a seed with common random numbers (pgrpo_toy.stages_rl), and the report (pgrpo_toy.study_report). Resumable: every stage
and run keeps its result.json, and the looks are recomputed from them, so a rerun of the same
command continues where it stopped and takes the same decisions.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgrpo_toy.demo import DemoConfig, shared_stages, with_threads
from pgrpo_toy.stage import say
from pgrpo_toy.stats import PairedComparison, StoppingRule, paired_comparison
from pgrpo_toy.study_report import Look, build_study_report, render_study_markdown


def primary_metric(config: DemoConfig) -> str:
    """The readout the primary comparison compares (pgrpo_toy.report.WORLD_COMPARISONS, first entry)."""
    from pgrpo_toy.report import WORLD_COMPARISONS

    return WORLD_COMPARISONS[config.world][0].metric


def default_rule(config: DemoConfig) -> StoppingRule:
    """The pre-registered rule with the world's primary comparison (docs/demo.md)."""
    from pgrpo_toy.report import WORLD_COMPARISONS

    first = WORLD_COMPARISONS[config.world][0]
    return StoppingRule(primary=(first.a, first.b))


def primary_comparison(runs: Sequence[dict[str, Any]], rule: StoppingRule, metric: str = "pass_at_1") -> PairedComparison:
    from pgrpo_toy.report import paired_values

    _, a, b = paired_values(runs, *rule.primary, key=metric)
    return paired_comparison(a, b)


def check_arms(config: DemoConfig, rule: StoppingRule) -> None:
    from pgrpo.errors import PgrpoError

    missing = [m for m in rule.primary if m not in config.arm_names]
    if missing:
        raise PgrpoError(f"--arms: the study's primary comparison {rule.primary[0]} - {rule.primary[1]} "
                         f"needs arm(s) {missing}")


def run_study(config: DemoConfig, rule: StoppingRule | None = None) -> dict[str, Any]:
    """Run (or resume) the study and write report.json / report.md; returns report.json's content.
    The RL runs go to spawned processes: call under `if __name__ == "__main__":` from a script."""
    return with_threads(_run_study, config, rule or default_rule(config))


def _run_study(config: DemoConfig, rule: StoppingRule) -> dict[str, Any]:
    from pgrpo_toy.stages_rl import rl_stages

    check_arms(config, rule)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(rule.describe())
    shared = shared_stages(out, config)
    looks: list[Look] = []
    runs: list[dict[str, Any]] = []
    for stage in range(len(rule.stages)):
        staged = dataclasses.replace(config, seeds=rule.seeds_through(stage))
        runs = rl_stages(out, staged, shared.policy["path"], shared.rm_paths)
        primary = primary_comparison(runs, rule, primary_metric(config))
        decision = rule.decide(stage, primary)
        looks.append(Look(stage, primary.k, primary.sign_flip_p, decision.stop, decision.reason))
        say(f"look {stage + 1}: {decision.reason} (elapsed {round(time.monotonic() - started)} s)")
        if decision.stop:
            break
    report = build_study_report(config, rule, shared, runs, looks, round(time.monotonic() - started, 1))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_study_markdown(report), encoding="utf-8")
    say(f"report: {out / 'report.md'}")
    return report
