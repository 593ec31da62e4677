"""`pgrpo demo --select`: the selection sweep that chose the demo's settings, on selection splits only.

Owns `SelectionGrid` (the candidates, fixed in advance) and `run_selection`. Every choice reads
only the selection splits (pgrpo_toy.splits): the reward model's head, beta and coherence share by
its accuracy on a toy LCB-RB built from "rm_select" tasks; the RL learning rate and step count by
held-out pass@1 on "rl_select" tasks (mean over the three modes, so no mode gets its own tuning),
with a selection seed the study never uses. The test split and the reported toy LCB-RB ("bench")
are never read here. Writes `selection.json` and `selection.md` in the run directory; every
candidate is a resumable stage (its result.json), so a rerun continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pgrpo_toy.demo_config import DemoConfig
from pgrpo_toy.stage import run_stage, say, stage_key

# A seed outside the study's seeds (0-11, pgrpo_toy.stats.StoppingRule), so the RL choice never sees a study run.
SELECTION_SEED = 100


@dataclass(frozen=True)
class RMCandidate:
    head: Literal["scalar", "implicit"]
    beta: float
    coherence_pair_fraction: float

    @property
    def name(self) -> str:
        return f"{self.head}-beta{self.beta:g}-coh{self.coherence_pair_fraction:g}"


@dataclass(frozen=True)
class SelectionGrid:
    rm: tuple[RMCandidate, ...] = (
        RMCandidate("implicit", 0.5, 0.25), RMCandidate("implicit", 1.0, 0.25), RMCandidate("implicit", 2.0, 0.25),
        RMCandidate("implicit", 1.0, 1.0), RMCandidate("scalar", 1.0, 0.25))
    rl_learning_rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    # RL step counts compared: a checkpoint at each earlier count is evaluated, the last is the run's end.
    rl_steps: tuple[int, ...] = (20, 40)


# The step counts compared under the quick budget (--select --quick keeps the CI budget's RL length).
QUICK_RL_STEPS = (1, 2)


def _rm_stage(stage_dir: Path, config: DemoConfig, candidate: RMCandidate, pairs_path: str, policy: str,
              bench_file: str) -> dict[str, Any]:
    from pgrpo_toy.lcb_rb import score_lcb_rb
    from pgrpo_toy.stages_rm import rm_training_pairs, train_rm

    train_path, kept = rm_training_pairs(Path(pairs_path), candidate.coherence_pair_fraction,
                                         name=f"rm_train_pairs-coh{candidate.coherence_pair_fraction:g}.jsonl")
    chosen = dataclasses.replace(config, rm_head=candidate.head, rm_beta=candidate.beta,
                                 coherence_pair_fraction=candidate.coherence_pair_fraction)
    rm = train_rm(stage_dir, chosen, str(train_path), policy)
    accuracy = score_lcb_rb(Path(bench_file), rm["path"], stage_dir / "rm_eval")
    return {"candidate": dataclasses.asdict(candidate), "train_pairs": kept, "rm": rm,
            "rm_select_lcb_rb_accuracy": accuracy.accuracy, "ci95": list(accuracy.ci95), "pairs": accuracy.n}


def _best_rm(results: list[dict[str, Any]]) -> dict[str, Any]:
    # Highest accuracy; ties go to the earlier candidate (the grid lists the simpler settings first).
    return max(results, key=lambda r: (r["rm_select_lcb_rb_accuracy"], -results.index(r)))


def _rl_table(runs: list[dict[str, Any]], grid: SelectionGrid) -> list[dict[str, Any]]:
    from pgrpo.errors import PgrpoError

    rows = []
    for lr in grid.rl_learning_rates:
        mine = [r for r in runs if r["learning_rate"] == lr]
        for steps in grid.rl_steps:
            missing = [r["mode"] for r in mine if str(steps) not in r["pass_at_1_by_step"]]
            if missing:
                raise PgrpoError(f"selection: no pass@1 at step {steps} for learning rate {lr:g}, mode(s) {missing} "
                                 "(a checkpoint was not evaluated; use a new --out)")
            per_mode = {r["mode"]: r["pass_at_1_by_step"][str(steps)] for r in mine}
            rows.append({"learning_rate": lr, "steps": steps, "per_mode": per_mode,
                         "mean_pass_at_1": round(statistics.fmean(per_mode.values()), 4)})
    return rows


def run_selection(config: DemoConfig, grid: SelectionGrid | None = None) -> dict[str, Any]:
    """Run (or resume) the sweep and write selection.json / selection.md; returns selection.json's content.
    The RL runs go to spawned processes: call under `if __name__ == "__main__":` from a script."""
    from pgrpo_toy.demo import with_threads

    return with_threads(_run_selection, config, grid or SelectionGrid())


def _run_selection(config: DemoConfig, grid: SelectionGrid) -> dict[str, Any]:
    from pgrpo_toy.demo_config import MODES
    from pgrpo_toy.editor import WORLD_EDITOR
    from pgrpo_toy.stages_rl import rl_stages
    from pgrpo_toy.stages_rm import stage_bench, stage_generator, stage_pairs, stage_policy

    if config.quick:
        grid = dataclasses.replace(grid, rl_steps=QUICK_RL_STEPS)
    # The sweep tunes the world's default editor's RM and the three reward modes' shared RL setting.
    editor = WORLD_EDITOR[config.world]
    config = dataclasses.replace(config, evaluate_on="selection", seeds=(SELECTION_SEED,), baseline=False,
                                 eval_checkpoints=grid.rl_steps[:-1], rl_steps=grid.rl_steps[-1], arms=MODES)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    policy = run_stage(out, "policy", stage_policy, config, key=stage_key(config))["path"]
    generator = run_stage(out, "generator", stage_generator, config, key=stage_key(config))["path"]
    pairs = run_stage(out, "pairs", stage_pairs, config, policy, editor, key=stage_key(config))
    first = grid.rm[0]
    first_config = dataclasses.replace(config, rm_head=first.head, rm_beta=first.beta)
    # The rm_select LCB-RB is built once (policy samples, sandbox, oracle judge); every candidate RM
    # is then scored on the same pairs.
    bench = run_stage(out, "bench", stage_bench, first_config, generator, {}, key=stage_key(first_config))
    rm_results = [run_stage(out, f"rm/{c.name}", _rm_stage, config, c, pairs["path_all"], policy, bench["path"],
                            key=stage_key(config, candidate=dataclasses.asdict(c), rm_seed=config.seeds[0]))
                  for c in grid.rm]
    best = _best_rm(rm_results)
    say(f"selected RM: {best['candidate']} (rm_select LCB-RB {best['rm_select_lcb_rb_accuracy']})")
    chosen_rm = RMCandidate(**best["candidate"])
    rl_runs = []
    for lr in grid.rl_learning_rates:
        rl_config = dataclasses.replace(config, rl_learning_rate=lr, rm_head=chosen_rm.head, rm_beta=chosen_rm.beta,
                                        coherence_pair_fraction=chosen_rm.coherence_pair_fraction)
        for run in rl_stages(out / f"rl-lr{lr:g}", rl_config, policy, {editor: best["rm"]["path"]}):
            by_step = {str(k): v for k, v in run.get("checkpoint_pass_at_1", {}).items()}
            by_step[str(grid.rl_steps[-1])] = run["eval"]["pass_at_1"]
            rl_runs.append({"learning_rate": lr, "mode": run["mode"], "pass_at_1_by_step": by_step})
    table = _rl_table(rl_runs, grid)
    best_rl = max(table, key=lambda r: (r["mean_pass_at_1"], -table.index(r)))
    report = {"selection_seed": SELECTION_SEED, "world": config.world, "editor": editor,
              "splits": {"rm": "rm_select (toy LCB-RB)", "rl": "rl_select (pass@1)"},
              "rm_select_bench": {"pairs": bench["pairs"], "problems": bench["problems"]},
              "rm_candidates": [{**r["candidate"], "accuracy": r["rm_select_lcb_rb_accuracy"], "ci95": r["ci95"],
                                 "heldout_pair_accuracy": r["rm"]["heldout_accuracy"], "train_pairs": r["train_pairs"]}
                                for r in rm_results],
              "chosen_rm": best["candidate"], "rl_grid": table,
              "chosen_rl": {"learning_rate": best_rl["learning_rate"], "steps": best_rl["steps"]},
              "wall_seconds": round(time.monotonic() - started, 1)}
    (out / "selection.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "selection.md").write_text(render_selection(report), encoding="utf-8")
    say(f"selection: {out / 'selection.md'}")
    return report


def render_selection(report: dict[str, Any]) -> str:
    lines = ["# Demo settings, chosen on the selection splits", "",
             f"World `{report['world']}`, selection seed {report['selection_seed']}; the test split and the "
             "reported toy LCB-RB were not read.", "",
             f"## Reward model: accuracy on the rm_select toy LCB-RB ({report['rm_select_bench']['pairs']} pairs)", "",
             "| head | beta | coherence share | accuracy (95% CI) | held-out OD pairs |", "|---|---|---|---|---|"]
    for c in report["rm_candidates"]:
        low, high = c["ci95"]
        lines.append(f"| {c['head']} | {c['beta']:g} | {c['coherence_pair_fraction']:g} | {c['accuracy']:.3f} "
                     f"({low:.3f}-{high:.3f}) | {c['heldout_pair_accuracy']} |")
    lines += ["", f"Chosen: {report['chosen_rm']}.", "",
              "## RL: rl_select pass@1 (mean over modes)", "",
              "| learning rate | steps | outcome | additive | posterior | mean |", "|---|---|---|---|---|---|"]
    for r in report["rl_grid"]:
        modes = r["per_mode"]
        lines.append(f"| {r['learning_rate']:g} | {r['steps']} | {modes.get('outcome')} | {modes.get('additive')} | "
                     f"{modes.get('posterior')} | {r['mean_pass_at_1']} |")
    lines += ["", f"Chosen: {report['chosen_rl']}.", ""]
    return "\n".join(lines)
