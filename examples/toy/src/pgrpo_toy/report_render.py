"""The demo report's Markdown and plots (the numbers are pgrpo_toy.report's).

Owns `PLOTS` and `write_plots` (matplotlib, Agg backend; per training step, one line per arm,
mean over seeds), the Markdown tables (`shared_markdown`, `arm_table`, `comparison_table`) and
`render_markdown` (the demo's report.md). A mean is bolded only by the study's decision test
(`comparison_table` with its alpha); the demo report passes alpha 0, so nothing is bolded there.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PLOTS = (("pass_rate", "training samples: strong-test pass rate", "plot_pass_rate.png"),
         ("false_pass_rate", "training samples: false passes (weak pass, strong fail)", "plot_false_pass.png"),
         ("rt_false_pass", "R_t on false passes", "plot_rt_false_pass.png"),
         ("rt_true_pass", "R_t on true passes", "plot_rt_true_pass.png"),
         ("invalid_shortcut_rate", "share of samples with an invalid shortcut", "plot_invalid_shortcut.png"),
         ("reasoning_quality", "oracle reasoning quality", "plot_reasoning_quality.png"))


def _mean_curve(runs: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    steps = sorted({s for r in runs for s in r["curves"]["step"]})
    ys = []
    for step in steps:
        vals = [r["curves"][key][r["curves"]["step"].index(step)] for r in runs if step in r["curves"]["step"]]
        vals = [v for v in vals if v is not None]
        ys.append(statistics.fmean(vals) if vals else float("nan"))
    return steps, ys


def write_plots(out: Path, runs: Sequence[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    arms = list(dict.fromkeys(r["arm"] for r in runs))
    for key, title, name in PLOTS:
        fig, ax = plt.subplots(figsize=(6, 4))
        for arm in arms:
            steps, ys = _mean_curve([r for r in runs if r["arm"] == arm], key)
            ax.plot(steps, ys, marker="o", markersize=3, label=arm)
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


def _acc(score: dict[str, Any] | None) -> str:
    return "n/a" if not score else f"{fmt(score['accuracy'])} (n {score['n']}, 95% CI {ci(score['ci95'])})"


def shared_markdown(report: dict[str, Any]) -> list[str]:
    """Markdown of the shared sections (pgrpo_toy.report.shared_sections)."""
    p, splits = report["policy"], report["splits"]
    lines = [f"World: {report['world']} (training tests: {report['train_tests']}); evaluation on split "
             f"`{splits['eval_split']}` with the strong tests, toy LCB-RB on split `{splits['bench_split']}` "
             + (f"written by the generator policy (SFT seed {report['generator']['seed']}, "
                f"{report['generator']['steps']} steps)." if report['generator']['seed'] is not None
                else "written by the SFT policy itself (the CI budget has no separate generator)."), "",
             "## Splits (disjoint by step program)", "",
             "| split | tasks | trap | hidden trap | safe | plain | used for |", "|---|---|---|---|---|---|---|"]
    for name, size in splits["sizes"].items():
        s = splits["class_shares"][name]
        lines.append(f"| {name} | {size} | {fmt(s['trap'])} | {fmt(s.get('hidden'))} | {fmt(s['safe'])} | "
                     f"{fmt(s['plain'])} | {splits['uses'][name]} |")
    r = p["readouts"]
    lines += ["", "## Policy (SFT on noisy demonstrations)",
              f"- strong-test pass@1 {fmt(p['sft_pass_at_1'])} (hidden-trap tasks {fmt(r.get('hidden_pass_at_1'))}, "
              f"trap {fmt(r['trap_pass_at_1'])}, others {fmt(r['other_pass_at_1'])}), oracle quality "
              f"{fmt(p['sft_reasoning_quality'])}, format rate {fmt(p['sft_format_rate'])}; shortcuts: invalid "
              f"{fmt(r['invalid_shortcut_rate'])}, valid {fmt(r['valid_shortcut_rate'])} of samples",
              f"- demonstrations: {p['demos']}", "", "## Reward models (one per OD editor)", ""]
    for editor, rm in report["reward_models"].items():
        probe = rm.get("probe") or {}
        lines.append(f"- **{editor}** editor: {rm['pairs']} OD pairs ({rm['by_dimension']}), {rm['n_train']} trained "
                     f"on; head {rm['head']['kind']} (beta {rm['head']['beta']}); held-out OD accuracy "
                     f"{fmt(rm['heldout_accuracy'])}; toy LCB-RB {_acc(rm.get('lcb_rb'))}")
        if probe.get("pairs"):
            lines.append(f"  - probe ({probe['pairs']} rm_select pairs): canonical over an invalid skip in "
                         f"{fmt(probe['invalid_accuracy'])} of {probe['invalid_n']} (95% CI {ci(probe['invalid_ci95'])}); "
                         f"valid skip preferred in {fmt(probe['valid_shortcut_preference'])} of {probe['valid_n']}")
        cats = (rm.get("lcb_rb") or {}).get("categories") or {}
        if cats:
            lines.append("  - LCB-RB by category: " + "; ".join(f"{name} {_acc(c)}" for name, c in cats.items()))
    lines += comparison_markdown(report.get("od_vs_score_based"))
    return lines


def comparison_markdown(comp: dict[str, Any] | None) -> list[str]:
    if not comp or not comp.get("rm"):
        return []
    chosen = "beta chosen on rm_select" if len(comp["betas"]) > 1 else "one beta, no selection"
    lines = ["", f"## OD vs score-based RM (equal distinct pairs and optimizer steps; {chosen})", "",
             f"{comp['distinct_pairs']} distinct pairs each ({comp['od_available']} honest OD pairs available, "
             f"{comp['score_based_made']['pairs']} score-based pairs made), {comp['epochs']} epoch(s), betas "
             f"{comp['betas']}; selection bench {comp.get('select_bench')}.", "",
             "| RM | chosen beta | selection accuracy per beta | reported LCB-RB | invalid skip rejected | skip chosen | other |",
             "|---|---|---|---|---|---|---|"]
    for name, rm in comp["rm"].items():
        bench = rm.get("bench") or {}
        cats = bench.get("categories") or {}
        sel = ", ".join(f"{c['beta']:g}: {fmt(c['select_accuracy'])}" for c in rm["candidates"])
        lines.append(f"| {name} | {rm['chosen_beta']:g} | {sel} | {_acc(bench or None)} | "
                     f"{_acc(cats.get('invalid_skip_rejected'))} | {_acc(cats.get('skip_chosen'))} | "
                     f"{_acc(cats.get('other'))} |")
    return lines


ARM_COLUMNS = (("pass@1 (strong)", "pass_at_1"), ("hidden-trap pass@1", "hidden_pass_at_1"),
               ("weak pass@1", "weak_pass_at_1"), ("false-pass rate", "false_pass_rate"),
               ("invalid shortcut", "invalid_shortcut_rate"), ("R_t true pass", "rt_true_pass"),
               ("R_t false pass", "rt_false_pass"), ("oracle quality", "reasoning_quality"))


def arm_table(arms: dict[str, Any]) -> list[str]:
    lines = ["| arm | " + " | ".join(h for h, _ in ARM_COLUMNS) + " | train false-pass | seeds |",
             "|---" * (len(ARM_COLUMNS) + 3) + "|"]
    for arm, r in arms.items():
        cells = " | ".join(fmt(r.get(k)) for _, k in ARM_COLUMNS)
        lines.append(f"| {arm} | {cells} | {fmt(r['train'].get('false_pass_rate'))} | {len(r['seeds'])} |")
    return lines


def _mean_cell(c: dict[str, Any], alpha: float) -> str:
    """The mean, bolded only when the study's decision test (sign-flip p < alpha, fixed in advance)
    holds and the 95% interval excludes 0."""
    if c.get("n_a"):
        return "n/a"
    text = f"{c['mean']:+.3f}"
    excludes = c["ci95"] is not None and (c["ci95"][0] > 0 or c["ci95"][1] < 0)
    return f"**{text}**" if excludes and c["sign_flip_p"] < alpha else text


def comparison_table(comps: dict[str, dict[str, Any]], label: str, alpha: float) -> list[str]:
    lines = [f"| {label} | K | per seed | mean | 95% t-interval | crossed task x seed 95% | sign-flip p | "
             "MDE (80% power, decision alpha) | task term share |", "|---|---|---|---|---|---|---|---|---|"]
    for name, c in comps.items():
        p = "n/a" if c.get("sign_flip_p") is None else f"{c['sign_flip_p']:.4f}"
        crossed = c.get("crossed") or {}
        cross = ci(crossed["interval"]) if crossed else "n/a"
        var = c.get("variance") or {}
        share = fmt(var.get("task_share")) if var else "n/a"
        mde = "n/a" if c.get("mde") is None else f"{c['mde']:.3f} (alpha {c.get('mde_alpha')})"
        lines.append(f"| {name} | {c['k']} | {' / '.join(f'{d:+.3f}' for d in c['diffs'])} | {_mean_cell(c, alpha)} | "
                     f"{ci(c['ci95'])} | {cross} | {p} | {mde} | {share} |")
    return lines


def validity_markdown(validity: dict[str, Any] | None) -> list[str]:
    if not validity:
        return []
    lines = ["", "## Validity checks (pre-registered: a null is uninformative if one fails)", ""]
    for v in validity.values():
        verdict = "n/a" if v["holds"] is None else "holds" if v["holds"] else "FAILS"
        lines.append(f"- {v['what']}: {fmt(v['value'])} (needs >= {v['threshold']}): {verdict}")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    lines = ["# pgrpo demo report", "",
             f"Config: {'quick' if report['config']['quick'] else 'default'}; seeds {report['config']['seeds']}; "
             f"arms {report['config']['arms']}; total wall time {report['wall_seconds']} s.", ""]
    lines += shared_markdown(report)
    lines += validity_markdown(report.get("validity"))
    lines += ["", "## RL (same SFT policy, prompt order and evaluation draws per seed)", ""]
    lines += arm_table(report["arms"])
    lines += ["", "Final policy's samples on the evaluation split (means over seeds). pass@1: strong tests; weak "
              "pass@1: the training tests; false pass: weak pass and strong fail. R_t: the arm's RM (outcome: "
              "the first editor's; every RM's in report.json `by_rm`). Train false-pass: mean over steps of the "
              "training samples' false-pass rate.", ""]
    if report["comparisons"]:
        # no decision test outside the study: nothing is bolded here
        lines += comparison_table(report["comparisons"], "comparison", alpha=0.0) + [""]
    lines += [f"![{title}]({name})" for _, title, name in PLOTS]
    return "\n".join(lines) + "\n"
