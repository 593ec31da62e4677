"""The demo report: report.json (stable keys), report.md and PNG plots, in the run directory.

Owns `summarize_runs` (per mode: mean and spread over seeds of the final readouts), `comparisons`
(paired differences posterior - outcome and posterior - additive over seeds, pgrpo.toy.stats),
`shared_sections` (splits, policy, RM, probe, baseline: the part the study report reuses),
`write_report` and the plots (matplotlib, Agg backend; per training step, one line per mode,
mean over seeds). States numbers as measured; bolds nothing (the study report bolds a difference
only when its interval excludes 0).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.toy.readouts import rounded_mean

if TYPE_CHECKING:
    from pgrpo.toy.stage import SharedStages

PLOTS = (("pass_rate", "training-batch pass rate (R_o)", "plot_pass_rate.png"),
         ("trap_pass_rate", "training-batch pass rate on trap tasks", "plot_trap_pass_rate.png"),
         ("rt_failing", "R_t on failing samples (trained RM)", "plot_rt_failing.png"),
         ("invalid_shortcut_rate", "share of samples with an invalid shortcut", "plot_invalid_shortcut.png"),
         ("thinking_reward", "mean thinking reward R_t (trained RM)", "plot_thinking_reward.png"),
         ("reasoning_quality", "oracle reasoning quality", "plot_reasoning_quality.png"))
# The final readouts (pgrpo.toy.readouts.Readouts fields) averaged per mode.
READOUT_KEYS = ("pass_at_1", "trap_pass_at_1", "other_pass_at_1", "rt_failing", "rt_passing",
                "invalid_shortcut_rate", "valid_shortcut_rate", "reasoning_quality", "pass_at_1_se")
# (a, b): the paired comparisons a - b the report makes; the first is the study's primary one.
COMPARISONS = (("posterior", "outcome"), ("posterior", "additive"))
# Which split each use reads (pgrpo.toy.splits.SPLITS); the evaluation ones follow evaluate_on.
SPLIT_USES = {"sft": "SFT demonstrations", "rm_pairs": "OD pairs and the score-based baseline's pairs",
              "rm_select": "blind-spot probe; RM selection (toy LCB-RB when evaluate_on=selection)",
              "bench": "the reported toy LCB-RB", "rl_train": "RL training prompts",
              "rl_select": "RL selection (evaluation when evaluate_on=selection)",
              "test": "the reported held-out evaluation"}


def _spread(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.stdev(known), 4) if len(known) > 1 else None


def summarize_runs(runs: Sequence[dict], sft_eval: dict) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for mode in dict.fromkeys(r["mode"] for r in runs):
        mine = [r for r in runs if r["mode"] == mode]
        passes = [r["readouts"]["pass_at_1"] for r in mine]
        out[mode] = {key: rounded_mean([r["readouts"][key] for r in mine]) for key in READOUT_KEYS}
        out[mode].update({
            "pass_at_1_spread": _spread(passes),
            "pass_at_1_gain_over_sft": rounded_mean([p - sft_eval["pass_at_1"] for p in passes if p is not None]),
            "mean_thinking_reward": rounded_mean([rounded_mean(r["curves"]["thinking_reward"]) for r in mine]),
            "format_rate": rounded_mean([r["eval"]["format_rate"] for r in mine]),
            "steps": mine[0]["steps"], "seeds": [r["seed"] for r in mine],
            "wall_seconds": rounded_mean([r.get("wall_seconds") for r in mine]),
            "per_seed": [{"seed": r["seed"], **r["readouts"]} for r in mine],
        })
    return out


def paired_values(runs: Sequence[dict], a: str, b: str, key: str = "pass_at_1") -> tuple[list[int], list, list]:
    """(seeds, a's values, b's values) over the seeds both modes ran with a value of `key`, in
    seed order (a seed whose readout is None on either side is dropped from both: pairing)."""
    seeds, xs, ys, _ = _paired(runs, a, b, key)
    return seeds, xs, ys


def _paired(runs: Sequence[dict], a: str, b: str, key: str) -> tuple[list[int], list, list, list[int]]:
    by = {(r["mode"], r["seed"]): r["readouts"][key] for r in runs}
    both = sorted({s for m, s in by if m == a} & {s for m, s in by if m == b})
    dropped = [s for s in both if by[(a, s)] is None or by[(b, s)] is None]
    seeds = [s for s in both if s not in dropped]
    return seeds, [by[(a, s)] for s in seeds], [by[(b, s)] for s in seeds], dropped


def comparisons(runs: Sequence[dict], key: str = "pass_at_1") -> dict[str, dict]:
    """Per COMPARISONS pair both of whose modes ran: the paired comparison of `key` over the seeds
    with a value on both sides (`dropped_seeds`: those without, e.g. rt_failing of a run with no
    failing sample). Fewer than 2 such seeds: `n_a` is True and the statistics are None."""
    from pgrpo.toy.stats import paired_comparison

    out = {}
    for a, b in COMPARISONS:
        seeds, xs, ys, dropped = _paired(runs, a, b, key)
        if not seeds and not dropped:
            continue
        if len(seeds) < 2:
            out[f"{a}-{b}"] = {"seeds": seeds, "dropped_seeds": dropped, "k": len(seeds), "n_a": True,
                               "diffs": [round(x - y, 6) for x, y in zip(xs, ys)], "mean": None, "sd": None, "ci95": None,
                               "sign_flip_p": None, "mde80": None}
            continue
        out[f"{a}-{b}"] = {"seeds": seeds, "dropped_seeds": dropped, "n_a": False,
                           **paired_comparison(xs, ys).as_dict()}
    return out


def shared_sections(config, shared: SharedStages) -> dict[str, Any]:
    """The report sections every demo and study report has (splits, policy, pairs, RM, probe, baseline)."""
    policy, pairs, rm, bench, probe, baseline = (shared.policy, shared.pairs, shared.rm, shared.bench,
                                                 shared.probe, shared.baseline)
    ev = policy["eval"]
    uses = dict(SPLIT_USES)
    return {
        "world": config.world,
        "evaluate_on": config.evaluate_on,
        "splits": {**policy["splits"], "uses": uses, "eval_split": config.eval_split,
                   "bench_split": config.bench_split},
        "policy": {"path": policy["path"], "sft_pass_at_1": ev["pass_at_1"],
                   "sft_reasoning_quality": ev["reasoning_quality"], "sft_format_rate": ev["format_rate"],
                   "sft_cached": policy["sft"].get("cached"), "demos": policy["sft"].get("demos"),
                   "readouts": policy["readouts"]},
        "pairs": {"count": pairs["count"], "by_dimension": pairs["by_dimension"], "status": pairs["status"],
                  "rm_train_count": pairs["train_count"]},
        "reward_model": {"heldout_accuracy": rm["heldout_accuracy"], "lcb_rb_accuracy": bench["lcb_rb_accuracy"],
                         "lcb_rb_pairs": bench["pairs"], "lcb_rb_rm_input": bench.get("rm_input"),
                         "lcb_rb_ci95": bench.get("lcb_rb_ci95"), "lcb_rb_split": bench["split"],
                         "n_train_pairs": rm["n_train"], "head": rm["head"]},
        "probe": probe,
        "baseline": None if baseline is None else {
            "pairs": baseline["pairs"], "problems_used": baseline["problems_used"],
            "train_count": baseline.get("train_count"), "cycled": baseline.get("cycled"),
            "heldout_accuracy": (baseline.get("rm") or {}).get("heldout_accuracy"),
            "lcb_rb_accuracy": baseline["lcb_rb_accuracy"], "lcb_rb_ci95": baseline["lcb_rb_ci95"],
            "probe": baseline.get("probe")},
    }


def _mean_curve(runs: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    steps = sorted({s for r in runs for s in r["curves"]["step"]})
    ys = []
    for step in steps:
        vals = [r["curves"][key][r["curves"]["step"].index(step)] for r in runs if step in r["curves"]["step"]]
        vals = [v for v in vals if v is not None]
        ys.append(statistics.fmean(vals) if vals else float("nan"))
    return steps, ys


def write_plots(out: Path, runs: Sequence[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    modes = list(dict.fromkeys(r["mode"] for r in runs))
    for key, title, name in PLOTS:
        fig, ax = plt.subplots(figsize=(6, 4))
        for mode in modes:
            steps, ys = _mean_curve([r for r in runs if r["mode"] == mode], key)
            ax.plot(steps, ys, marker="o", markersize=3, label=mode)
        ax.set_xlabel("RL step")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        written.append(name)
    return written


def fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def ci(bounds: Sequence[float] | None) -> str:
    return "n/a" if not bounds else f"{bounds[0]:.3f} to {bounds[1]:.3f}"


def shared_markdown(report: dict) -> list[str]:
    """Markdown of the shared sections (see `shared_sections`)."""
    p, pairs, rm, probe, splits = (report["policy"], report["pairs"], report["reward_model"], report["probe"],
                                   report["splits"])
    lines = [f"World: {report['world']}; evaluation on split `{splits['eval_split']}`, toy LCB-RB on split "
             f"`{splits['bench_split']}`.", "",
             "## Splits (disjoint by step program)", "",
             "| split | tasks | trap | safe | plain | used for |", "|---|---|---|---|---|---|"]
    for name, size in splits["sizes"].items():
        shares = splits["class_shares"][name]
        lines.append(f"| {name} | {size} | {fmt(shares['trap'])} | {fmt(shares['safe'])} | {fmt(shares['plain'])} | "
                     f"{splits['uses'][name]} |")
    r = p["readouts"]
    lines += ["", "## Policy (SFT on noisy demonstrations)",
              f"- pass@1 {fmt(p['sft_pass_at_1'])} (trap tasks {fmt(r['trap_pass_at_1'])}, others "
              f"{fmt(r['other_pass_at_1'])}), oracle quality {fmt(p['sft_reasoning_quality'])}, format rate "
              f"{fmt(p['sft_format_rate'])}; shortcuts: invalid {fmt(r['invalid_shortcut_rate'])}, valid "
              f"{fmt(r['valid_shortcut_rate'])} of samples",
              f"- demonstrations: {p['demos']}", "",
              "## Reward model",
              f"- OD pairs: {pairs['count']} ({pairs['by_dimension']}); RM input pairs: {pairs['rm_train_count']} "
              f"({rm['n_train_pairs']} trained on, the rest held out)",
              f"- head: {rm['head']['kind']} (beta {rm['head']['beta']}); held-out pair accuracy "
              f"{fmt(rm['heldout_accuracy'])}; toy LCB-RB accuracy {fmt(rm['lcb_rb_accuracy'])} on "
              f"{rm['lcb_rb_pairs']} pairs (95% CI {ci(rm['lcb_rb_ci95'])})"]
    if probe.get("pairs"):
        lines.append(f"- blind-spot probe ({probe['pairs']} rm_select pairs): prefers the canonical reasoning "
                     f"over an invalid shortcut in {fmt(probe['invalid_accuracy'])} of {probe['invalid_n']} "
                     f"trap pairs (95% CI {ci(probe['invalid_ci95'])}); prefers a valid shortcut over the "
                     f"written-out step in {fmt(probe['valid_shortcut_preference'])} of {probe['valid_n']} safe pairs")
    base = report["baseline"]
    if base:
        lines.append(f"- score-based baseline RM (pairs labelled by test outcome only: {base['pairs']} made, "
                     f"{base['train_count']} used{', cycled' if base['cycled'] else ''}): toy LCB-RB accuracy "
                     f"{fmt(base['lcb_rb_accuracy'])} (95% CI {ci(base['lcb_rb_ci95'])})")
    return lines


def mode_table(rl: dict) -> list[str]:
    lines = ["| mode | pass@1 | eval SE | trap pass@1 | other pass@1 | R_t failing | R_t passing | invalid shortcut "
             "| valid shortcut | oracle quality | seeds |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for mode, r in rl.items():
        lines.append(f"| {mode} | {fmt(r['pass_at_1'])} | {fmt(r['pass_at_1_se'])} | {fmt(r['trap_pass_at_1'])} | "
                     f"{fmt(r['other_pass_at_1'])} | {fmt(r['rt_failing'])} | {fmt(r['rt_passing'])} | "
                     f"{fmt(r['invalid_shortcut_rate'])} | {fmt(r['valid_shortcut_rate'])} | "
                     f"{fmt(r['reasoning_quality'])} | {len(r['seeds'])} |")
    return lines


def render_markdown(report: dict) -> str:
    lines = ["# pgrpo demo report", "",
             f"Config: {'quick' if report['config']['quick'] else 'default'}; seeds {report['config']['seeds']}; "
             f"total wall time {report['wall_seconds']} s.", ""]
    lines += shared_markdown(report)
    lines += ["", "## RL (same SFT policy, prompt order and evaluation draws per seed)", ""]
    lines += mode_table(report["rl"])
    lines += ["", "pass@1 etc.: means over seeds of the final policy's samples on the evaluation split; eval SE: "
              "standard error of pass@1 from evaluation alone (tasks as the unit). R_t: the trained RM's score "
              "of the reasoning, computed for every mode. Shortcut rates: share of samples with at least one "
              "invalid / valid sign shortcut.", ""]
    if report["comparisons"]:
        # no decision test outside the study: nothing is bolded here
        lines += comparison_table(report["comparisons"], "comparison (pass@1)", alpha=0.0) + [""]
    lines += [f"![{title}]({name})" for _, title, name in PLOTS]
    return "\n".join(lines) + "\n"


def _mean_cell(c: dict, alpha: float) -> str:
    """The mean, bolded only when the study's decision test (sign-flip p < alpha, fixed in advance)
    holds and the 95% interval excludes 0."""
    if c.get("n_a"):
        return "n/a"
    text = f"{c['mean']:+.3f}"
    excludes = c["ci95"] is not None and (c["ci95"][0] > 0 or c["ci95"][1] < 0)
    return f"**{text}**" if excludes and c["sign_flip_p"] < alpha else text


def comparison_table(comps: dict[str, dict], label: str, alpha: float) -> list[str]:
    lines = [f"| {label} | K | per seed | mean | 95% t-interval | sign-flip p | MDE (80% power) |",
             "|---|---|---|---|---|---|---|"]
    for name, c in comps.items():
        p = "n/a" if c.get("sign_flip_p") is None else f"{c['sign_flip_p']:.4f}"
        lines.append(f"| {name} | {c['k']} | {' / '.join(f'{d:+.3f}' for d in c['diffs'])} | {_mean_cell(c, alpha)} | "
                     f"{ci(c['ci95'])} | {p} | {fmt(c['mde80'])} |")
    return lines


def config_record(config, seeds: Sequence[int] | None = None) -> dict:
    """The settings a report records: the SFT settings as trained (with the run's world) and the
    seeds that actually ran."""
    record = dataclasses.asdict(config)
    record["sft"] = dataclasses.asdict(config.sft_config)
    if seeds is not None:
        record["seeds"] = list(seeds)
    return record


def write_report(out: Path, config, shared: SharedStages, runs: Sequence[dict], wall_seconds: float) -> dict:
    report = {"config": config_record(config), "wall_seconds": wall_seconds, **shared_sections(config, shared),
              "rl": summarize_runs(runs, shared.policy["eval"]), "comparisons": comparisons(runs),
              "runs": [{k: r[k] for k in ("mode", "seed", "steps", "wall_seconds", "eval", "readouts", "curves")}
                       for r in runs]}
    report["plots"] = write_plots(out, runs)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report
