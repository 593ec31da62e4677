"""The demo report: report.json (stable keys), report.md and PNG plots, in the run directory.

Owns `Comparison` / `WORLD_COMPARISONS` (which paired differences a world's report makes; the
first is the study's primary one), `summarize_runs` (per arm: means over seeds of the final
readouts and of the training curves), `comparisons` (paired differences over seeds,
pgrpo_toy.stats, with the crossed task x seed bootstrap and variance components of
pgrpo_toy.crossed for pass rates), `VALIDITY` / `validity_checks` (the two checks whose failure
makes a null uninformative), `shared_sections` (splits, policy, generator, RMs, probes, the OD vs
score-based comparison: the part the study report reuses) and `write_report`. Markdown and plots
are pgrpo_toy.report_render. States numbers as measured; the demo report bolds nothing.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo_toy.readouts import rounded_mean

if TYPE_CHECKING:
    from pgrpo_toy.demo_config import DemoConfig
    from pgrpo_toy.stage import SharedStages


@dataclass(frozen=True)
class Comparison:
    """The paired difference a - b of the readout `metric` over seeds."""

    a: str
    b: str
    metric: str

    @property
    def name(self) -> str:
        return f"{self.a}-{self.b}:{self.metric}"


_MODES = (Comparison("posterior", "outcome", "pass_at_1"), Comparison("posterior", "additive", "pass_at_1"))
WORLD_COMPARISONS: dict[str, tuple[Comparison, ...]] = {
    # Primary: strong-test pass@1 on the hidden-trap tasks, honest posterior vs outcome (pre-registered, docs/demo.md).
    "weak": (Comparison("posterior_honest", "outcome", "hidden_pass_at_1"),
             Comparison("posterior_blind", "outcome", "hidden_pass_at_1"),
             Comparison("posterior_honest", "posterior_blind", "hidden_pass_at_1"),
             Comparison("posterior_honest", "outcome", "pass_at_1"),
             Comparison("posterior_blind", "outcome", "pass_at_1")),
    "trap": _MODES, "clean": _MODES}
# Pass-rate readouts and the per-task values their crossed bootstrap resamples (None: all tasks).
TASK_METRICS = {"pass_at_1": False, "hidden_pass_at_1": True}
# The final readouts (pgrpo_toy.readouts.Readouts fields) averaged per arm.
READOUT_KEYS = ("pass_at_1", "hidden_pass_at_1", "weak_pass_at_1", "false_pass_rate", "trap_pass_at_1",
                "other_pass_at_1", "rt_true_pass", "rt_false_pass", "rt_failing", "rt_passing",
                "invalid_shortcut_rate", "valid_shortcut_rate", "reasoning_quality", "pass_at_1_se")
# Per-step curves averaged over steps and seeds per arm (the training samples' rates).
TRAIN_KEYS = ("false_pass_rate", "invalid_shortcut_rate", "rt_true_pass", "rt_false_pass", "train_pass_rate",
              "pass_rate")


@dataclass(frozen=True)
class ValidityCheck:
    """A pre-registered check (docs/demo.md): `value` must be at least `threshold`."""

    name: str
    threshold: float
    what: str


VALIDITY = (ValidityCheck("outcome_train_false_pass_rate", 0.02,
                          "outcome's false-pass rate on its training samples (weak pass, strong fail)"),
            ValidityCheck("honest_probe_accuracy", 0.9,
                          "the honest RM's probe accuracy: canonical reasoning over an invalid skip"))
# Which split each use reads (pgrpo_toy.splits.SPLITS); the evaluation ones follow evaluate_on.
SPLIT_USES = {"sft": "SFT demonstrations (the generator's too, another draw)",
              "rm_pairs": "OD pairs and the score-based pairs",
              "rm_select": "probes; RM selection (toy LCB-RB when evaluate_on=selection)",
              "bench": "the reported toy LCB-RB", "rl_train": "RL training prompts",
              "rl_select": "RL selection (evaluation when evaluate_on=selection)",
              "test": "the reported held-out evaluation"}


def _spread(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.stdev(known), 4) if len(known) > 1 else None


def summarize_runs(runs: Sequence[dict[str, Any]], sft_eval: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(r["arm"] for r in runs):
        mine = [r for r in runs if r["arm"] == arm]
        passes = [r["readouts"]["pass_at_1"] for r in mine]
        out[arm] = {key: rounded_mean([r["readouts"].get(key) for r in mine]) for key in READOUT_KEYS}
        editors = sorted({e for r in mine for e in r.get("readouts_by_rm", {})})
        out[arm].update({
            "mode": mine[0]["mode"], "rm_editor": mine[0].get("rm_editor"),
            "pass_at_1_spread": _spread(passes),
            "pass_at_1_gain_over_sft": rounded_mean([p - sft_eval["pass_at_1"] for p in passes if p is not None]),
            "train": {key: rounded_mean([rounded_mean(r["curves"].get(key, [])) for r in mine]) for key in TRAIN_KEYS},
            "train_rt_editor": mine[0].get("curves_rm_editor"),
            "by_rm": {e: {key: rounded_mean([r["readouts_by_rm"][e].get(key) for r in mine])
                          for key in ("rt_true_pass", "rt_false_pass", "rt_passing", "rt_failing")} for e in editors},
            "format_rate": rounded_mean([r["eval"]["format_rate"] for r in mine]),
            "steps": mine[0]["steps"], "seeds": [r["seed"] for r in mine],
            "wall_seconds": rounded_mean([r.get("wall_seconds") for r in mine]),
            "per_seed": [{"seed": r["seed"], **r["readouts"]} for r in mine],
        })
    return out


def paired_values(runs: Sequence[dict[str, Any]], a: str, b: str, key: str = "pass_at_1") -> tuple[list[int], list[Any], list[Any]]:
    """(seeds, a's values, b's values) over the seeds both arms ran with a value of `key`, in
    seed order (a seed whose readout is None on either side is dropped from both: pairing)."""
    seeds, xs, ys, _ = _paired(runs, a, b, key)
    return seeds, xs, ys


def _paired(runs: Sequence[dict[str, Any]], a: str, b: str, key: str) -> tuple[list[int], list[Any], list[Any], list[int]]:
    by = {(r["arm"], r["seed"]): r["readouts"].get(key) for r in runs}
    both = sorted({s for m, s in by if m == a} & {s for m, s in by if m == b})
    dropped = [s for s in both if by[(a, s)] is None or by[(b, s)] is None]
    seeds = [s for s in both if s not in dropped]
    return seeds, [by[(a, s)] for s in seeds], [by[(b, s)] for s in seeds], dropped


def compare(runs: Sequence[dict[str, Any]], c: Comparison, hidden_tasks: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """One comparison over the seeds with a value on both sides (`dropped_seeds`: those without);
    None when the arms never ran together. Below 2 seeds the statistics are None (`n_a`)."""
    from pgrpo_toy.crossed import crossed_bootstrap, crossed_variance, task_grid
    from pgrpo_toy.stats import DECISION_ALPHA, paired_comparison

    seeds, xs, ys, dropped = _paired(runs, c.a, c.b, c.metric)
    if not seeds and not dropped:
        return None
    base = {"a": c.a, "b": c.b, "metric": c.metric, "seeds": seeds, "dropped_seeds": dropped}
    if len(seeds) < 2:
        return {**base, "k": len(seeds), "n_a": True, "diffs": [round(x - y, 6) for x, y in zip(xs, ys)],
                "mean": None, "sd": None, "ci95": None, "sign_flip_p": None, "mde": None, "mde_alpha": DECISION_ALPHA,
                "crossed": None, "variance": None}
    out = {**base, "n_a": False, **paired_comparison(xs, ys).as_dict(), "crossed": None, "variance": None}
    if c.metric in TASK_METRICS:
        by = {(r["arm"], r["seed"]): r["per_task_pass"] for r in runs if "per_task_pass" in r}
        keep: Callable[[str], bool] = (lambda t: t in hidden_tasks) if TASK_METRICS[c.metric] else (lambda t: True)
        a_runs = [{t: v for t, v in by[(c.a, s)].items() if keep(t)} for s in seeds]
        b_runs = [{t: v for t, v in by[(c.b, s)].items() if keep(t)} for s in seeds]
        if a_runs and all(len(r) >= 2 for r in a_runs):
            grid = task_grid(a_runs, b_runs, seeds)
            out["crossed"] = crossed_bootstrap(grid).as_dict()
            variance = crossed_variance(grid)
            out["variance"] = {**variance.as_dict(), "seed_share": variance.share("seed"),
                               "task_share": variance.share("task"), "residual_share": variance.share("residual")}
    return out


def comparisons(runs: Sequence[dict[str, Any]], world: str, hidden_tasks: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """Every WORLD_COMPARISONS entry of `world` whose arms ran (see `compare`)."""
    out = {}
    for c in WORLD_COMPARISONS[world]:
        result = compare(runs, c, hidden_tasks)
        if result is not None:
            out[c.name] = result
    return out


def hidden_task_ids(config: DemoConfig) -> frozenset[str]:
    """Ids of the evaluation problems that are hidden-trap tasks."""
    from pgrpo_toy.stages_rm import eval_problems, splits_of
    from pgrpo_toy.world import hidden_trap, task_of

    return frozenset(p.task_id for p in eval_problems(config, splits_of(config)) if hidden_trap(task_of(p)))


def validity_checks(arms: dict[str, dict[str, Any]], probe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The VALIDITY checks with their measured values (None where the arm or RM did not run)."""
    values = {"outcome_train_false_pass_rate": (arms.get("outcome") or {}).get("train", {}).get("false_pass_rate"),
              "honest_probe_accuracy": (probe.get("honest") or {}).get("invalid_accuracy")}
    return {v.name: {"value": values[v.name], "threshold": v.threshold, "what": v.what,
                     "holds": None if values[v.name] is None else values[v.name] >= v.threshold} for v in VALIDITY}


def shared_sections(config: DemoConfig, shared: SharedStages) -> dict[str, Any]:
    """The report sections every demo and study report has (splits, policy, generator, RMs,
    probes, the OD vs score-based comparison)."""
    policy, bench = shared.policy, shared.bench
    ev = policy["eval"]
    rms = {}
    for editor, rm in shared.rms.items():
        pairs = shared.pairs[editor]
        rms[editor] = {"pairs": pairs["count"], "by_dimension": pairs["by_dimension"],
                       "rm_train_count": pairs["train_count"], "n_train": rm["n_train"], "head": rm["head"],
                       "heldout_accuracy": rm["heldout_accuracy"], "lcb_rb": bench["rm"].get(editor),
                       "probe": shared.probe["by_rm"].get(editor)}
    return {
        "world": config.world, "evaluate_on": config.evaluate_on, "train_tests": config.train_tests,
        "splits": {**policy["splits"], "uses": dict(SPLIT_USES), "eval_split": config.eval_split,
                   "bench_split": config.bench_split},
        "policy": {"path": policy["path"], "sft_pass_at_1": ev["pass_at_1"],
                   "sft_reasoning_quality": ev["reasoning_quality"], "sft_format_rate": ev["format_rate"],
                   "sft_cached": policy["sft"].get("cached"), "demos": policy["sft"].get("demos"),
                   "readouts": policy["readouts"]},
        "generator": {"path": shared.generator["path"], "seed": config.generator_seed,
                      "steps": config.generator_steps, "cached": shared.generator["sft"].get("cached")},
        "bench": {k: bench[k] for k in ("split", "problems", "pairs")},
        "reward_models": rms,
        "od_vs_score_based": shared.comparison,
    }


def config_record(config: DemoConfig, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """The settings a report records: the SFT settings as trained and the seeds that actually ran."""
    record = dataclasses.asdict(config)
    record["sft"] = dataclasses.asdict(config.sft_config)
    record["arms"] = list(config.arm_names)
    if seeds is not None:
        record["seeds"] = list(seeds)
    return record


RUN_KEYS = ("arm", "mode", "rm_editor", "seed", "steps", "wall_seconds", "eval", "readouts", "readouts_by_rm",
            "curves")


def write_report(out: Path, config: DemoConfig, shared: SharedStages, runs: Sequence[dict[str, Any]], wall_seconds: float) -> dict[str, Any]:
    from pgrpo_toy.report_render import render_markdown, write_plots

    arms = summarize_runs(runs, shared.policy["eval"])
    sections = shared_sections(config, shared)
    report = {"config": config_record(config), "wall_seconds": wall_seconds, **sections, "arms": arms,
              "validity": validity_checks(arms, shared.probe["by_rm"]) if config.world == "weak" else None,
              "comparisons": comparisons(runs, config.world, hidden_task_ids(config)),
              "runs": [{k: r.get(k) for k in RUN_KEYS} for r in runs]}
    report["plots"] = write_plots(out, runs)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report
