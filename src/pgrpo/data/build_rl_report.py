"""What `pgrpo data build-rl` writes: the training set, its removal report and its datasheet.

Owns the output files next to `--out` (say `data/train/code-rl.jsonl`):
- the problems kept, in pgrpo's JSONL format (`pgrpo.data.schema.problem_to_dict`);
- `code-rl.report.txt`: one line per problem left out, by name and why
  (`removed  TASK_ID  contaminated: humaneval/HumanEval/12 (13-gram overlap 0.62)`);
- `code-rl.datasheet.md` and `code-rl.datasheet.json`: counts per source, per filter, per
  duplicate rule, per evaluation set, and of the reference-solution runs, plus the settings;
  evaluation sets skipped with `--skip-eval` are named ("NOT decontaminated against: ...") in
  both, in the report's header and in the summary line.
Every file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrpo.data.build_rl import CONTAMINATED, DUPLICATE, FILTERED, BuildConfig, BuildResult
from pgrpo.data.io import write_jsonl, write_text_atomic
from pgrpo.data.schema import problem_to_dict


@dataclass(frozen=True)
class OutputPaths:
    data: Path
    report: Path
    datasheet_md: Path
    datasheet_json: Path

    @classmethod
    def next_to(cls, out: Path) -> OutputPaths:
        stem = out.stem
        return cls(out, out.with_name(f"{stem}.report.txt"), out.with_name(f"{stem}.datasheet.md"),
                   out.with_name(f"{stem}.datasheet.json"))


def datasheet(result: BuildResult, config: BuildConfig) -> dict[str, Any]:
    kept = result.kept_by_source()
    problems = [p for _, p in result.kept]
    return {
        "output": str(config.out),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kept": len(result.kept),
        "sources": {s.name: {"spec": f"{s.path}" + (f"#{s.split}" if s.split else ""),
                             "loaded": result.loaded[s.name], "kept": kept[s.name],
                             "unreadable": len(result.unreadable.get(s.name, []))} for s in config.sources},
        "filtered": dict(Counter(r.reason for r in result.removed(FILTERED))),
        "duplicates": dict(Counter(r.reason for r in result.removed(DUPLICATE))),
        "contaminated": {label.split(" ")[0]: 0 for label in result.eval_sizes}
        | dict(Counter(r.reason for r in result.removed(CONTAMINATED))),
        "eval_sets": dict(result.eval_sizes),
        "not_decontaminated_against": list(config.skipped_evals),
        "reference_checks": dict(result.checks),
        "renamed_task_ids": result.renamed,
        "by_test_kind": dict(Counter(p.tests.kind.value for p in problems)),
        "by_difficulty": dict(Counter(p.difficulty or "-" for p in problems)),
        "settings": {"before": str(config.before) if config.before else None, "min_tests": config.min_tests,
                     "ngram": config.ngram, "ngram_threshold": config.ngram_threshold,
                     "min_shared_tests": config.min_shared_tests,
                     "max_solution_seconds": config.max_solution_seconds,
                     "require_solution": config.require_solution, "sandbox": config.check_tag,
                     "max_prompt_tokens": config.max_prompt_tokens,
                     "prompt_budget": config.prompt_budget or "prompts not measured (no --recipe)"},
    }


def _table(title: str, header: str, rows: dict[str, Any]) -> str:
    lines = [f"## {title}", "", f"| {header} |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows.items()] or ["| (none) | 0 |"]
    return "\n".join(lines) + "\n"


def datasheet_markdown(sheet: dict[str, Any]) -> str:
    sources = {name: f"{v['loaded']} loaded, {v['kept']} kept, {v['unreadable']} unreadable (`{v['spec']}`)"
               for name, v in sheet["sources"].items()}
    parts = [
        f"# Datasheet: {sheet['output']}\n",
        f"Built by `pgrpo data build-rl` on {sheet['created']}: **{sheet['kept']} problems** kept. "
        "Each removed problem is listed by name in the report next to this file.\n",
        *([f"**{_not_against(sheet['not_decontaminated_against'])}** (skipped with `--skip-eval`).\n"]
          if sheet["not_decontaminated_against"] else []),
        _table("Sources", "source | problems", sources),
        _table("Filtered", "reason | problems", sheet["filtered"]),
        _table("Duplicates removed", "rule | problems", sheet["duplicates"]),
        _table("Decontamination", "evaluation set | training problems removed", sheet["contaminated"]),
        _table("Evaluation sets checked", "evaluation set | problems", sheet["eval_sets"]),
        _table("Reference solutions (sandbox)", "status | problems", sheet["reference_checks"]),
        _table("Kept, by test kind", "kind | problems", sheet["by_test_kind"]),
        _table("Kept, by difficulty", "difficulty | problems", sheet["by_difficulty"]),
        _table("Settings", "setting | value", sheet["settings"]),
    ]
    return "\n".join(parts)


def _not_against(names: list[str] | tuple[str, ...]) -> str:
    return f"NOT decontaminated against: {', '.join(names)}"


def report_text(result: BuildResult, config: BuildConfig) -> str:
    total = sum(result.loaded.values())
    lines = [f"# pgrpo data build-rl: {config.out}",
             f"# kept {len(result.kept)} of {total} problems; removed {len(result.removals)}"]
    if config.skipped_evals:
        lines.append(f"# {_not_against(config.skipped_evals)} (--skip-eval)")
    for stage in (CONTAMINATED, DUPLICATE, FILTERED):
        lines += [r.format() for r in result.removed(stage)]
    for name, messages in result.unreadable.items():
        lines += [f"skipped  {name}  unreadable: {message}" for message in messages]
    return "\n".join(lines) + "\n"


def write_outputs(result: BuildResult, config: BuildConfig) -> OutputPaths:
    paths = OutputPaths.next_to(config.out)
    paths.data.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(paths.data, (problem_to_dict(p) for _, p in result.kept))
    write_text_atomic(paths.report, report_text(result, config))
    sheet = datasheet(result, config)
    write_text_atomic(paths.datasheet_json, json.dumps(sheet, indent=2) + "\n")
    write_text_atomic(paths.datasheet_md, datasheet_markdown(sheet))
    return paths


def summary_line(result: BuildResult, paths: OutputPaths, config: BuildConfig | None = None) -> str:
    counts = Counter(r.stage for r in result.removals)
    removed = ", ".join(f"{counts[s]} {s}" for s in (CONTAMINATED, DUPLICATE, FILTERED))
    skipped = f"; {_not_against(config.skipped_evals)}" if config is not None and config.skipped_evals else ""
    return (f"kept {len(result.kept)} of {sum(result.loaded.values())} problems ({removed}); "
            f"wrote {paths.data}, {paths.report.name}, {paths.datasheet_md.name}, {paths.datasheet_json.name}"
            f"{skipped}")
