"""The demo report: report.json (stable keys), report.md and PNG plots, in the run directory.

Owns `summarize_runs` (mean and spread over seeds per mode), `write_report` and the plots
(matplotlib, Agg backend): training-batch pass rate, mean thinking reward (the trained RM's
score of the reasoning, for every mode) and oracle reasoning quality over steps, one line per
mode (mean over seeds). States numbers as measured; draws no conclusion the numbers don't show.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PLOTS = (("pass_rate", "training-batch pass rate (R_o)", "plot_pass_rate.png"),
         ("thinking_reward", "mean thinking reward R_t (trained RM)", "plot_thinking_reward.png"),
         ("reasoning_quality", "oracle reasoning quality", "plot_reasoning_quality.png"))


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.fmean(known), 4) if known else None


def _spread(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.stdev(known), 4) if len(known) > 1 else None


def _last(curve: Sequence[float | None]) -> float | None:
    values = [v for v in curve if v is not None]
    return values[-1] if values else None


def summarize_runs(runs: Sequence[dict], sft_eval: dict) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for mode in dict.fromkeys(r["mode"] for r in runs):
        mine = [r for r in runs if r["mode"] == mode]
        passes = [r["eval"]["pass_at_1"] for r in mine]
        thinking = [_mean(r["curves"]["thinking_reward"]) for r in mine]
        gains = [p - sft_eval["pass_at_1"] for p in passes]
        out[mode] = {
            "pass_at_1": _mean(passes), "pass_at_1_spread": _spread(passes),
            "pass_at_1_gain_over_sft": _mean(gains),
            "reasoning_quality": _mean([r["eval"]["reasoning_quality"] for r in mine]),
            "reasoning_quality_spread": _spread([r["eval"]["reasoning_quality"] for r in mine]),
            "mean_thinking_reward": _mean(thinking),
            "final_thinking_reward": _mean([_last(r["curves"]["thinking_reward"]) for r in mine]),
            "format_rate": _mean([r["eval"]["format_rate"] for r in mine]),
            "steps": mine[0]["steps"], "seeds": [r["seed"] for r in mine],
            "wall_seconds": _mean([r["wall_seconds"] for r in mine]),
            "per_seed": [{"seed": r["seed"], **r["eval"]} for r in mine],
        }
    return out


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


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _ci(bounds: Sequence[float] | None) -> str:
    return "n/a" if not bounds else f"{bounds[0]:.3f}-{bounds[1]:.3f}"


def render_markdown(report: dict) -> str:
    p, pairs, rm, rl = report["policy"], report["pairs"], report["reward_model"], report["rl"]
    lines = [
        "# pgrpo demo report", "",
        f"Config: {'quick' if report['config']['quick'] else 'default'}; seeds {report['config']['seeds']}; "
        f"total wall time {report['wall_seconds']} s.", "",
        "## Policy (SFT on noisy demonstrations)",
        f"- held-out pass@1 {_fmt(p['sft_pass_at_1'])}, oracle reasoning quality "
        f"{_fmt(p['sft_reasoning_quality'])}, format rate {_fmt(p['sft_format_rate'])}",
        f"- demonstrations: {p['demos']}", "",
        "## Reward model",
        f"- OD pairs: {pairs['count']} ({pairs['by_dimension']}); RM input pairs: {pairs['rm_train_count']} "
        f"(every factual and logic pair, {report['config']['coherence_pair_fraction']:.0%} of the coherence "
        f"pairs; {rm['n_train_pairs']} of them trained on, the rest held out)",
        f"- head: {rm['head']['kind']} (beta {rm['head']['beta']}); held-out pair accuracy "
        f"{_fmt(rm['heldout_accuracy'])}; toy LCB-RB accuracy {_fmt(rm['lcb_rb_accuracy'])} on "
        f"{rm['lcb_rb_pairs']} pairs (95% CI {_ci(rm['lcb_rb_ci95'])})", "",
        "## RL (same seeds and budget per mode)", "",
        "| mode | held-out pass@1 | spread | gain over SFT | oracle quality | mean R_t | final R_t | steps | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, r in rl.items():
        lines.append(f"| {mode} | {_fmt(r['pass_at_1'])} | {_fmt(r['pass_at_1_spread'])} | "
                     f"{_fmt(r['pass_at_1_gain_over_sft'])} | {_fmt(r['reasoning_quality'])} | "
                     f"{_fmt(r['mean_thinking_reward'])} | {_fmt(r['final_thinking_reward'])} | {r['steps']} | "
                     f"{_fmt(r['wall_seconds'])} |")
    lines += ["", "Spread: sample standard deviation over seeds (n/a with one seed). R_t is the trained RM's "
              "score of the reasoning, computed for every mode after training.", ""]
    lines += [f"![{title}]({name})" for _, title, name in PLOTS]
    return "\n".join(lines) + "\n"


def write_report(out: Path, config, policy: dict, pairs: dict, rm: dict, bench: dict, runs: Sequence[dict],
                 wall_seconds: float) -> dict:
    ev = policy["eval"]
    report = {
        "config": dataclasses.asdict(config),
        "wall_seconds": wall_seconds,
        "policy": {"path": policy["path"], "sft_pass_at_1": ev["pass_at_1"],
                   "sft_reasoning_quality": ev["reasoning_quality"], "sft_format_rate": ev["format_rate"],
                   "sft_cached": policy["sft"].get("cached"), "demos": policy["sft"].get("demos")},
        "pairs": {"count": pairs["count"], "by_dimension": pairs["by_dimension"], "status": pairs["status"],
                  "rm_train_count": pairs["train_count"]},
        "reward_model": {"heldout_accuracy": rm["heldout_accuracy"], "lcb_rb_accuracy": bench["lcb_rb_accuracy"],
                         "lcb_rb_pairs": bench["pairs"], "lcb_rb_rm_input": bench.get("rm_input"),
                         "lcb_rb_ci95": bench.get("lcb_rb_ci95"), "n_train_pairs": rm["n_train"],
                         "head": rm["head"]},
        "rl": summarize_runs(runs, ev),
        "runs": [{k: r[k] for k in ("mode", "seed", "steps", "wall_seconds", "eval", "curves")} for r in runs],
    }
    report["plots"] = write_plots(out, runs)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report
