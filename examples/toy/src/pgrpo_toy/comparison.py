"""The OD vs score-based reward-model comparison (the paper's 62.6 vs 57.7 on LCB-RB), made fair.

Owns `stage_comparison`. Two RMs from the same SFT policy, on the same budget:
  - "od": the honest editor's OD pairs (pgrpo_toy.editor: a wrong skip is never preferred);
  - "score_based": pairs labelled by the training tests only (pgrpo_toy.baseline: a passing vs a
    failing policy sample of the same rm_pairs problem).
Fairness, as issue 23 asks: both are cut to the same number of DISTINCT pairs (a seeded sample of
the larger set; nothing is cycled) and trained with the same epochs and batch size (equal
optimizer steps); each one's beta is chosen on a toy LCB-RB built from "rm_select" tasks (ties to
the earlier candidate); both benches are written by the generator policy (a re-seeded SFT
policy), not by the policy whose samples made the score-based pairs. The chosen RMs are then
scored once on the reported bench, overall and per pair category (pgrpo_toy.lcb_rb) with
bootstrap intervals.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pgrpo.data import read_jsonl, write_jsonl
from pgrpo_toy.demo_config import DemoConfig
from pgrpo_toy.stage import toy_verifier

RMS = ("od", "score_based")


def distinct(rows: list[Any]) -> list[Any]:
    """`rows` without repeats of a (prompt, chosen, rejected) triple, first occurrence kept (a
    problem drawn twice gets the same OD pairs twice)."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for row in rows:
        key = (row["prompt"], row["chosen"], row["rejected"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def equal_pairs(od_rows: list[Any], score_rows: list[Any], seed: int = 0) -> tuple[list[Any], list[Any]]:
    """Both sets made distinct, then cut to the size of the smaller by a seeded sample (order kept)."""
    od_rows, score_rows = distinct(od_rows), distinct(score_rows)
    n = min(len(od_rows), len(score_rows))
    rng = random.Random(f"comparison-pairs:{seed}")

    def cut(rows: list[Any]) -> list[Any]:
        keep = sorted(rng.sample(range(len(rows)), n))
        return [rows[i] for i in keep]

    return cut(od_rows), cut(score_rows)


def _write_pairs(path: Path, rows: list[Any], spec_from: Path) -> str:
    """`rows` as a pairs file next to a copy of the PairsSpec (pgrpo_pairs.json) of `spec_from`'s directory."""
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    from pgrpo.rm import PAIRS_SPEC_FILE

    spec = spec_from.parent / PAIRS_SPEC_FILE
    if spec.is_file() and spec.parent.resolve() != path.parent.resolve():
        shutil.copy(spec, path.parent / PAIRS_SPEC_FILE)
    write_jsonl(path, rows)
    return str(path)


def stage_comparison(stage_dir: Path, config: DemoConfig, policy: str, generator: str, od_pairs_path: str,
                     bench_file: str) -> dict[str, Any]:
    from pgrpo_toy.baseline import score_based_pairs
    from pgrpo_toy.lcb_rb import score_lcb_rb
    from pgrpo_toy.stages_rm import PAIRS_DRAW_SEED, build_bench, pair_problems, splits_of, train_rm

    problems = pair_problems(config, splits_of(config))  # the OD pairs' problems, with the training tests
    with toy_verifier() as verifier:
        made = score_based_pairs(policy, problems, config.baseline_samples, stage_dir / "score_pairs" / "pairs.jsonl",
                                 verifier, seed=PAIRS_DRAW_SEED)
    od_all, score_all = read_jsonl(od_pairs_path), read_jsonl(made.path)
    od_rows, score_rows = equal_pairs(od_all, score_all)
    out: dict[str, Any] = {"score_based_made": {"pairs": made.count, "problems_used": made.problems_used,
                                      "samples": made.samples, "passed": made.passed},
                 "od_available": len(od_all), "distinct_pairs": len(od_rows), "epochs": config.rm_epochs,
                 "betas": list(config.comparison_betas), "rm": {}}
    if not od_rows:
        return out
    paths = {"od": _write_pairs(stage_dir / "od_pairs" / "pairs.jsonl", od_rows, Path(od_pairs_path)),
             "score_based": _write_pairs(stage_dir / "score_pairs" / "equal.jsonl", score_rows, Path(made.path))}
    choose = len(config.comparison_betas) > 1  # one candidate: nothing to choose, no selection bench
    select_file, select = build_bench(stage_dir / "select_bench", config, generator, "rm_select") if choose \
        else (None, {"pairs": 0})
    out["select_bench"] = {k: select[k] for k in ("split", "problems", "pairs")} if choose else None
    for name in RMS:
        candidates: list[dict[str, Any]] = []
        for beta in config.comparison_betas:
            # Nothing held out: a split by problem would leave the two RMs unequal numbers of pairs (and
            # optimizer steps); their checks are the selection and reported benches.
            rm = train_rm(stage_dir / f"{name}-beta{beta:g}", config, paths[name], policy, beta=beta, heldout_fraction=0.0)
            on_select = score_lcb_rb(select_file, rm["path"], stage_dir / f"{name}-beta{beta:g}" / "select_eval") \
                if select_file is not None and select["pairs"] else None
            candidates.append({"beta": beta, "rm": rm, "select": on_select.as_dict() if on_select else None})
        best = max(candidates, key=lambda c: (c["select"]["accuracy"] if c["select"] else 0.0,
                                              -config.comparison_betas.index(c["beta"])))
        reported = score_lcb_rb(bench_file, best["rm"]["path"], stage_dir / f"{name}-reported") \
            if read_jsonl(bench_file) else None
        out["rm"][name] = {"chosen_beta": best["beta"], "n_train": best["rm"]["n_train"],
                           "candidates": [{"beta": c["beta"], "select_accuracy": c["select"]["accuracy"] if c["select"] else None,
                                           "select_ci95": c["select"]["ci95"] if c["select"] else None}
                                          for c in candidates],
                           "bench": reported.as_dict() if reported else None}
    return out
