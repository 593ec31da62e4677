"""The study report: report.json and report.md of `pgrpo demo --study` (pgrpo.toy.study).

Owns `Look` (one look of the stopping rule), `build_study_report` (pure: from the shared stage
results, the RL run results and the looks) and `render_study_markdown`. report.json carries,
per comparison (posterior - outcome, the primary one, and posterior - additive): the per-seed
paired differences of pass@1, mean, 95% t-interval, exact sign-flip p and the minimum
detectable effect at 80% power; per mode: pass@1, trap-task pass@1, R_t on failing samples,
invalid-shortcut rate (and the other readouts); the RM's blind-spot probe; the score-based
baseline's toy LCB-RB accuracy with its interval; the stopping rule and its looks; and the
evaluation noise next to the seed noise. A difference is bolded only when the study's decision
test (sign-flip p below the rule's per-look alpha) holds and its 95% interval excludes 0.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgrpo.toy.report import (
    COMPARISONS,
    ci,
    comparison_table,
    comparisons,
    config_record,
    fmt,
    mode_table,
    shared_markdown,
    shared_sections,
    summarize_runs,
)
from pgrpo.toy.stats import StoppingRule

if TYPE_CHECKING:
    from pgrpo.toy.stage import SharedStages

STUDY_BUDGET_MINUTES = 45  # the default study's stated budget on 2 cores from a cold cache
SECONDARY_KEYS = ("trap_pass_at_1", "rt_failing", "invalid_shortcut_rate")


@dataclass(frozen=True)
class Look:
    """One look of the stopping rule: after `stage`, with `k` seeds, the primary comparison's p."""

    stage: int
    k: int
    sign_flip_p: float
    stop: bool
    reason: str


def evaluation_noise(runs: Sequence[dict], comps: dict[str, dict], eval_problems: int, eval_samples: int) -> dict:
    """The unpaired standard error a per-seed difference gets from evaluation alone (an upper bound:
    both modes share the tasks and the draws), next to the seed-to-seed sd of the differences."""
    se = {(r["mode"], r["seed"]): r["readouts"].get("pass_at_1_se") for r in runs}
    out: dict[str, Any] = {"eval_problems": eval_problems, "eval_samples": eval_samples,
                           "mean_pass_at_1_se": _mean([v for v in se.values() if v is not None])}
    for name, c in comps.items():
        a, b = name.split("-")
        pairs = [(se.get((a, s)), se.get((b, s))) for s in c["seeds"]]
        known = [x * x + y * y for x, y in pairs if x is not None and y is not None]
        out[name] = {"eval_se_of_diff": round(math.sqrt(statistics.fmean(known)), 4) if known else None,
                     "seed_sd_of_diffs": c["sd"]}
    return out


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def stage_seconds(shared: SharedStages, runs: Sequence[dict]) -> dict[str, float | None]:
    out = {name: getattr(shared, name).get("wall_seconds") if getattr(shared, name) else None
           for name in ("policy", "pairs", "rm", "bench", "probe", "baseline")}
    out["rl_runs_sum"] = round(sum(r.get("wall_seconds") or 0.0 for r in runs), 1)
    return out


def build_study_report(config, rule: StoppingRule, shared: SharedStages, runs: Sequence[dict],
                       looks: Sequence[Look], wall_seconds: float) -> dict:
    comps = comparisons(runs)
    base = shared_sections(config, shared)
    probe, baseline = base["probe"], base["baseline"]
    return {
        "config": config_record(config, sorted({r["seed"] for r in runs})),
        "wall_seconds": wall_seconds,
        "budget_minutes": STUDY_BUDGET_MINUTES,
        "stage_seconds": stage_seconds(shared, runs),
        "stopping_rule": rule.as_dict(),
        "looks": [dataclasses.asdict(look) for look in looks],
        "k": looks[-1].k if looks else 0,
        "primary": f"{rule.primary[0]}-{rule.primary[1]}",
        "comparisons": comps,
        "secondary_comparisons": {key: comparisons(runs, key) for key in SECONDARY_KEYS},
        "modes": summarize_runs(runs, shared.policy["eval"]),
        "rm_probe": {k: probe.get(k) for k in ("pairs", "invalid_accuracy", "invalid_ci95", "invalid_n",
                                                 "valid_shortcut_preference", "valid_n")},
        "baseline": None if baseline is None else {
            "lcb_rb_accuracy": baseline["lcb_rb_accuracy"], "lcb_rb_ci95": baseline["lcb_rb_ci95"],
            "pairs": baseline["pairs"], "train_count": baseline["train_count"], "cycled": baseline["cycled"],
            "probe": baseline["probe"]},
        "od_rm": {k: base["reward_model"][k] for k in ("lcb_rb_accuracy", "lcb_rb_ci95", "lcb_rb_pairs",
                                                       "heldout_accuracy")},
        "evaluation_noise": evaluation_noise(runs, comps, config.eval_problems, config.eval_samples),
        "shared": base,
        "runs": [{k: r[k] for k in ("mode", "seed", "steps", "wall_seconds", "readouts", "curves")} for r in runs],
    }


def render_study_markdown(report: dict) -> str:
    noise = report["evaluation_noise"]
    lines = ["# pgrpo demo --study report", "",
             f"K = {report['k']} seeds x modes {list(report['modes'])}; total wall time {report['wall_seconds']} s "
             f"(budget {report['budget_minutes']} min on 2 cores from a cold cache). Per stage (s): "
             f"{report['stage_seconds']}.", "",
             report["stopping_rule"]["description"], ""]
    lines += [f"- look {look['stage'] + 1} (K = {look['k']}): {look['reason']}" for look in report["looks"]]
    lines += ["", f"## Paired differences of pass@1 (primary: {report['primary']})", ""]
    alpha = report["stopping_rule"]["interim_alpha"]
    lines += comparison_table(report["comparisons"], "comparison", alpha)
    lines += ["", f"Bold: sign-flip p < {alpha} (the study's decision test at every look, fixed in advance) and "
              "the 95% interval excludes 0. The interval and MDE use Student t with K-1 df (the MDE uses the "
              "observed sd: a post-hoc figure); the sign-flip p is exact over all 2^K sign patterns.", "",
              f"Evaluation noise: {noise['eval_problems']} test tasks x {noise['eval_samples']} samples per run; "
              f"mean standard error of a run's pass@1 from evaluation alone {fmt(noise['mean_pass_at_1_se'])}."]
    for a, b in COMPARISONS:
        name = f"{a}-{b}"
        if name in noise:
            lines.append(f"- {name}: unpaired evaluation SE of a per-seed difference {fmt(noise[name]['eval_se_of_diff'])} "
                         f"(an upper bound: both modes are evaluated on the same tasks with the same draws), "
                         f"seed-to-seed sd of the differences {fmt(noise[name]['seed_sd_of_diffs'])}")
    lines += ["", "## Secondary readouts (posterior - other mode; not covered by the stopping rule)", ""]
    for key, comps in report["secondary_comparisons"].items():
        lines += comparison_table(comps, key, alpha) + [""]
    lines += ["## Per mode (means over seeds)", ""] + mode_table(report["modes"]) + [""]
    probe, base, od = report["rm_probe"], report["baseline"], report["od_rm"]
    lines += ["## Reward models", "",
              f"- OD RM: toy LCB-RB {fmt(od['lcb_rb_accuracy'])} on {od['lcb_rb_pairs']} pairs "
              f"(95% CI {ci(od['lcb_rb_ci95'])})"]
    if probe.get("pairs"):
        lines.append(f"- blind-spot probe: canonical preferred over an invalid shortcut in "
                     f"{fmt(probe['invalid_accuracy'])} of {probe['invalid_n']} pairs (95% CI "
                     f"{ci(probe['invalid_ci95'])}); valid shortcut preferred in "
                     f"{fmt(probe['valid_shortcut_preference'])} of {probe['valid_n']}")
    if base:
        lines.append(f"- score-based baseline RM (same pair budget: {base['train_count']} pairs"
                     f"{', cycled from ' + str(base['pairs']) if base['cycled'] else ''}): toy LCB-RB "
                     f"{fmt(base['lcb_rb_accuracy'])} (95% CI {ci(base['lcb_rb_ci95'])})")
    lines += ["", "## Shared stages", ""] + shared_markdown(report["shared"])
    return "\n".join(lines) + "\n"
