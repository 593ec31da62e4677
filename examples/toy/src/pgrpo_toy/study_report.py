"""The study report: report.json and report.md of `pgrpo demo --study` (pgrpo_toy.study).

Owns `Look` (one look of the stopping rule), `build_study_report` (pure: from the shared stage
results, the RL run results and the looks) and `render_study_markdown`. report.json carries, per
comparison (pgrpo_toy.report.WORLD_COMPARISONS; the first is the primary one): the per-seed
paired differences, mean, 95% t-interval, the crossed task x seed bootstrap interval and variance
components, exact sign-flip p and the MDE at the decision alpha; per arm: strong-test pass@1
(overall and on hidden-trap tasks), weak-test pass@1, false-pass rate, invalid-shortcut rate, R_t
on false vs true passes (and the training samples' means); the validity checks; every RM's probe
and LCB-RB accuracy; the OD vs score-based comparison; the stopping rule and its looks; the
evaluation noise next to the seed noise; per-stage wall times. A difference is bolded only when
the study's decision test (sign-flip p below the rule's per-look alpha) holds and its 95%
interval excludes 0.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgrpo_toy.report import (
    RUN_KEYS,
    comparisons,
    config_record,
    hidden_task_ids,
    shared_sections,
    summarize_runs,
    validity_checks,
)
from pgrpo_toy.report_render import arm_table, comparison_table, fmt, shared_markdown, validity_markdown
from pgrpo_toy.stats import StoppingRule

if TYPE_CHECKING:
    from pgrpo_toy.demo_config import DemoConfig
    from pgrpo_toy.stage import SharedStages

STUDY_BUDGET_MINUTES = 45  # the default study's stated budget on 2 cores from a cold cache


@dataclass(frozen=True)
class Look:
    """One look of the stopping rule: after `stage`, with `k` seeds, the primary comparison's p."""

    stage: int
    k: int
    sign_flip_p: float
    stop: bool
    reason: str


def evaluation_noise(runs: Sequence[dict[str, Any]], comps: dict[str, dict[str, Any]], eval_problems: int, eval_samples: int) -> dict[str, Any]:
    """The unpaired standard error a per-seed difference gets from evaluation alone (an upper bound:
    both modes share the tasks and the draws), next to the seed-to-seed sd of the differences."""
    se = {(r["arm"], r["seed"]): r["readouts"].get("pass_at_1_se") for r in runs}
    out: dict[str, Any] = {"eval_problems": eval_problems, "eval_samples": eval_samples,
                           "mean_pass_at_1_se": _mean([v for v in se.values() if v is not None])}
    for name, c in comps.items():
        if c["metric"] != "pass_at_1":
            continue
        a, b = c["a"], c["b"]
        pairs = [(se.get((a, s)), se.get((b, s))) for s in c["seeds"]]
        known = [x * x + y * y for x, y in pairs if x is not None and y is not None]
        out[name] = {"eval_se_of_diff": round(math.sqrt(statistics.fmean(known)), 4) if known else None,
                     "seed_sd_of_diffs": c["sd"]}
    return out


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def stage_seconds(shared: SharedStages, runs: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Wall seconds per shared stage, and of the RL runs (sum, mean and max per run): a slower
    machine can scale them."""
    out: dict[str, float | None] = {name: (getattr(shared, name) or {}).get("wall_seconds")
                                    for name in ("policy", "generator", "bench", "probe", "comparison")}
    for editor in shared.rms:
        out[f"pairs-{editor}"] = shared.pairs[editor].get("wall_seconds")
        out[f"reward_model-{editor}"] = shared.rms[editor].get("wall_seconds")
    walls = [r.get("wall_seconds") or 0.0 for r in runs]
    out["rl_runs_sum"] = round(sum(walls), 1)
    out["rl_run_mean"] = round(statistics.fmean(walls), 1) if walls else None
    out["rl_run_max"] = max(walls) if walls else None
    return out


def build_study_report(config: DemoConfig, rule: StoppingRule, shared: SharedStages, runs: Sequence[dict[str, Any]],
                       looks: Sequence[Look], wall_seconds: float) -> dict[str, Any]:
    comps = comparisons(runs, config.world, hidden_task_ids(config))
    arms = summarize_runs(runs, shared.policy["eval"])
    base = shared_sections(config, shared)
    primary = next(iter(comps), None)
    return {
        "config": config_record(config, sorted({r["seed"] for r in runs})),
        "wall_seconds": wall_seconds,
        "budget_minutes": STUDY_BUDGET_MINUTES,
        "stage_seconds": stage_seconds(shared, runs),
        "stopping_rule": rule.as_dict(),
        "looks": [dataclasses.asdict(look) for look in looks],
        "k": looks[-1].k if looks else 0,
        "primary": primary,
        "comparisons": comps,
        "arms": arms,
        "validity": validity_checks(arms, shared.probe["by_rm"]) if config.world == "weak" else None,
        "rm_probes": {editor: rm.get("probe") for editor, rm in base["reward_models"].items()},
        "rm_lcb_rb": {editor: rm.get("lcb_rb") for editor, rm in base["reward_models"].items()},
        "od_vs_score_based": base["od_vs_score_based"],
        "evaluation_noise": evaluation_noise(runs, comps, config.eval_problems, config.eval_samples),
        "shared": base,
        "runs": [{k: r.get(k) for k in RUN_KEYS} for r in runs],
    }


def render_study_markdown(report: dict[str, Any]) -> str:
    noise = report["evaluation_noise"]
    lines = ["# pgrpo demo --study report", "",
             f"K = {report['k']} seeds x arms {list(report['arms'])}; total wall time {report['wall_seconds']} s "
             f"(budget {report['budget_minutes']} min on 2 cores from a cold cache). Per stage (s): "
             f"{report['stage_seconds']}.", "",
             report["stopping_rule"]["description"], ""]
    lines += [f"- look {look['stage'] + 1} (K = {look['k']}): {look['reason']}" for look in report["looks"]]
    lines += validity_markdown(report.get("validity"))
    lines += ["", f"## Paired differences (primary: {report['primary']})", ""]
    alpha = report["stopping_rule"]["interim_alpha"]
    lines += comparison_table(report["comparisons"], "comparison", alpha)
    lines += ["", f"Bold: sign-flip p < {alpha} (the study's decision test at every look, fixed in advance) and "
              "the 95% t-interval excludes 0; only the primary comparison is covered by the stopping rule, the "
              "others are secondary (uncorrected). The t-interval holds the test tasks fixed; the crossed "
              "bootstrap resamples seeds and tasks (it over-counts the residual term and, with few seeds, "
              "shrinks the seed term: read it next to the t-interval); "
              "the task term share is the task component's share of the variance of the mean. The MDE uses the "
              "observed sd (post hoc) at the decision alpha; the sign-flip p is exact over all 2^K sign patterns.",
              "", f"Evaluation: {noise['eval_problems']} test tasks x {noise['eval_samples']} samples per run; "
              f"mean standard error of a run's pass@1 from evaluation alone {fmt(noise['mean_pass_at_1_se'])}."]
    lines += ["", "## Per arm (means over seeds)", ""] + arm_table(report["arms"]) + [""]
    lines += ["## Shared stages", ""] + shared_markdown(report["shared"])
    return "\n".join(lines) + "\n"
