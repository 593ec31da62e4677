"""Writing the evaluation summary: `summary.json` (machine-readable) and `summary.md` (tables).

Owns `summary_to_dict`, `render_markdown` and `write_summary`. Scores are stored as
fractions in JSON and shown as percentages (one decimal, like the paper) in markdown.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pgrpo.data.io import write_text_atomic
from pgrpo.evaluation.summary import BenchmarkSummary, EvalSummary, GroupScore


def _ks(scores: dict[int, float]) -> dict[str, float]:
    return {f"pass@{k}": v for k, v in sorted(scores.items())}


def _group_dict(g: GroupScore) -> dict[str, Any]:
    return {"name": g.name, "num_tasks": g.num_tasks, "num_samples": g.num_samples,
            **_ks(g.pass_at_k), "avg@n": g.avg_at_n}


def _bench_dict(b: BenchmarkSummary) -> dict[str, Any]:
    d = asdict(b)
    del d["pass_at_k"]  # re-added last, as "pass@k" keys
    return d | {"skipped_ks": list(b.skipped_ks), "by_difficulty": [_group_dict(g) for g in b.by_difficulty],
                "by_window": [_group_dict(g) for g in b.by_window], "pass_at_k": _ks(b.pass_at_k)}


def summary_to_dict(summary: EvalSummary) -> dict[str, Any]:
    return {
        "settings": asdict(summary.settings) if summary.settings is not None else None,
        "token_counter": summary.token_counter,
        "benchmarks": [_bench_dict(b) for b in summary.benchmarks],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def render_markdown(summary: EvalSummary) -> str:
    """Markdown: a main table (one row per benchmark), then LCB breakdowns when present."""
    ks = sorted({k for b in summary.benchmarks for k in b.pass_at_k})
    lines = ["# pgrpo evaluation", ""]
    s = summary.settings
    if s is not None:
        lines += [f"model `{s.model}` | backend {s.backend} | prompt {s.prompt_style} | n={s.n} | "
                  f"temperature {s.temperature} | top_p {s.top_p} | max_tokens {s.max_tokens}", ""]
    head = ["benchmark", "tasks", "samples", *[f"pass@{k}" for k in ks], "avg@n", "format %",
            "reasoning tok", "answer tok"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b in summary.benchmarks:
        row = [b.benchmark, str(b.num_tasks - b.missing_tasks) + (f" (missing {b.missing_tasks})"
                                                                  if b.missing_tasks else ""),
               str(b.num_samples), *[_pct(b.pass_at_k.get(k)) for k in ks], _pct(b.avg_at_n),
               _pct(b.format_ok_rate), f"{b.mean_reasoning_tokens:.1f}", f"{b.mean_answer_tokens:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Scores in %. Token lengths counted with: {summary.token_counter}."]
    for b in summary.benchmarks:
        for title, groups in (("difficulty", b.by_difficulty), ("contest date window", b.by_window)):
            if not groups:
                continue
            gks = sorted({k for g in groups for k in g.pass_at_k})
            lines += ["", f"## {b.benchmark} by {title}", "",
                      "| " + " | ".join([title, "tasks", *[f"pass@{k}" for k in gks], "avg@n"]) + " |",
                      "|" + "---|" * (3 + len(gks))]
            for g in groups:
                lines.append("| " + " | ".join([g.name, str(g.num_tasks), *[_pct(g.pass_at_k.get(k)) for k in gks],
                                                _pct(g.avg_at_n)]) + " |")
    statuses = [(b.benchmark, b.statuses) for b in summary.benchmarks if b.statuses]
    if statuses:
        lines += ["", "## Verdicts", ""]
        lines += [f"- {name}: " + ", ".join(f"{k} {v}" for k, v in st.items()) for name, st in statuses]
    return "\n".join(lines) + "\n"


def write_summary(summary: EvalSummary, json_path: str | Path, md_path: str | Path) -> None:
    write_text_atomic(json_path, json.dumps(summary_to_dict(summary), indent=2) + "\n")
    write_text_atomic(md_path, render_markdown(summary))
