"""Human-facing files of an LCB-RB build: the review sheet and the datasheet.

Owns `write_review` (review.md: per pair the problem, both sides with their execution status
and judge verdicts, and a checkbox for the human reviewer) and `write_datasheet`
(datasheet.md + datasheet.json: counts, difficulty mix, contest-date window, models, settings).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _fence(code: str) -> str:
    ticks = "````" if "```" in code else "```"
    return f"{ticks}python\n{code.rstrip()}\n{ticks}"


def _quote(text: str, limit: int = 6000) -> str:
    text = text.strip()
    if len(text) > limit:
        text = text[:limit] + f"\n[... {len(text) - limit} more characters]"
    return "\n".join("> " + line for line in text.splitlines()) or "> (empty)"


def write_review(path: Path, rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]]) -> None:
    """review.md: every pair with both sides, for a human to confirm or strike."""
    verdicts = {r["question_id"]: {s["index"]: s for s in r["samples"]} for r in records}
    parts = ["# LCB-RB human review", "",
             f"{len(rows)} pairs. For each pair, tick the box if the chosen reasoning is really better "
             "(correct code, sound reasoning) and the rejected reasoning really led to its wrong code.", ""]
    for n, row in enumerate(rows, start=1):
        samples = verdicts.get(row["question_id"], {})
        chosen = samples.get(row["chosen_sample"], {})
        rejected = samples.get(row["rejected_sample"], {})
        parts += [
            f"## Pair {n}: {row['question_id']} ({row.get('difficulty') or 'unknown difficulty'}, "
            f"{row.get('contest_date') or 'undated'})", "",
            "- [ ] reviewed: keep this pair", "",
            "### Problem", "", _quote(row["problem"], 3000), "",
            f"### Chosen (sample {row['chosen_sample']}): passed all tests; judge: "
            f"{_verdict(chosen.get('consistent'))}", "", _quote(row["chosen_reasoning"]), "",
            _fence(row["chosen_code"]), "",
            f"### Rejected (sample {row['rejected_sample']}): {row['rejected_status']}; judge: "
            f"{_verdict(rejected.get('consistent'))}", "",
            f"Failure: `{(row.get('rejected_detail') or '').strip()[:300]}`", "",
            _quote(row["rejected_reasoning"]), "", _fence(row["rejected_code"]), "",
        ]
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def _verdict(value: bool | None) -> str:
    return {True: "CONSISTENT", False: "INCONSISTENT"}.get(value, "no verdict")  # type: ignore[arg-type]


def datasheet(rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], summary: Any,
              meta: dict[str, Any]) -> dict[str, Any]:
    """The datasheet as data: counts, difficulty mix, date window, sample statistics."""
    samples = [s for r in records for s in r["samples"]]
    dates = sorted(r["contest_date"] for r in rows if r.get("contest_date"))
    return {
        "built": dt.date.today().isoformat(),
        **meta,
        "problems_requested": summary.problems,
        "problems_done": len(records),
        "problems_failed": len(summary.failed),
        "problem_outcomes": dict(summary.status_counts),
        "pairs": len(rows),
        "duplicate_pairs_dropped": summary.duplicates_dropped,
        "pairs_by_difficulty": dict(Counter(str(r.get("difficulty") or "unknown") for r in rows)),
        "problems_by_difficulty": dict(Counter(str(r.get("difficulty") or "unknown") for r in records)),
        "pair_date_window": [dates[0], dates[-1]] if dates else None,
        "samples": len(samples),
        "samples_passed": sum(bool(s["passed"]) for s in samples),
        "sample_status": dict(Counter(s["status"] for s in samples)),
        "judge_verdicts": dict(Counter(_verdict(s["consistent"]) for s in samples if s["code"].strip())),
        "failed": dict(summary.failed),
    }


def write_datasheet(out: Path, rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], summary: Any,
                    meta: dict[str, Any]) -> None:
    sheet = datasheet(rows, records, summary, meta)
    (out / "datasheet.json").write_text(json.dumps(sheet, indent=2) + "\n", encoding="utf-8")
    lines = ["# LCB-RB datasheet", "",
             "Pairs of (correct code + reasoning consistent with it) over (incorrect code + reasoning "
             "consistent with it) for the same LiveCodeBench problem; see pgrpo.bench.build.", ""]
    for key, value in sheet.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"- **{key}**: {shown}")
    lines += ["", "Summary as the run printed it:", "", "```", summary.format(), "```", ""]
    (out / "datasheet.md").write_text("\n".join(lines), encoding="utf-8")
