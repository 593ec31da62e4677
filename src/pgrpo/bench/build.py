"""The LCB-RB builder (`pgrpo bench build`): per LiveCodeBench problem, K sampled responses are run
by `pgrpo.verify`; with a correct and an incorrect one, a `Judge` says whether each one's reasoning is
consistent with its code; pairs are (correct code + consistent reasoning) over (incorrect code +
consistent reasoning: the reasoning led to the bug), deduplicated. Writes lcb_rb.jsonl (`pgrpo rm
eval`'s `lcb-rb` rows), review.md and datasheet.md/json; every finished problem is journaled."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from pgrpo.bench.judge import Judge, JudgeItem
from pgrpo.config import OptionsModel
from pgrpo.data.cli_args import PromptStyleName
from pgrpo.data.io import write_jsonl
from pgrpo.data.journal import Journal
from pgrpo.data.problem import Problem
from pgrpo.llm.base import ChatBackend, ChatRequest
from pgrpo.verify import BatchVerify, Verdict

BENCH_FILE = "lcb_rb.jsonl"
JOURNAL_FILE = "samples.jsonl"


class BenchConfig(OptionsModel):
    """`pgrpo bench build`'s sampling options and their flags (errors name the flag)."""

    model_config = ConfigDict(frozen=True)

    samples: int = Field(default=50, description="responses per problem (paper: 50)")
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(default=4096, ge=1)
    seed: int = 0
    pairs_per_problem: int = Field(default=1, ge=1)
    batch_problems: int = Field(default=4, ge=1)
    prompt_style: PromptStyleName = "pgrpo"

    @field_validator("samples")
    @classmethod
    def _pairable(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"must be >= 2 (a pair needs a correct and an incorrect sample), got {value}")
        return value


@dataclass
class BenchSummary:
    problems: int = 0
    resumed: int = 0
    finished: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    pairs: int = 0
    duplicates_dropped: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # question_id -> error (left for the next run)

    def format(self) -> str:
        lines = [f"LCB-RB: {self.pairs} pairs from {self.problems} problems ({self.resumed} resumed, "
                 f"{self.finished} done now, {len(self.failed)} failed; {self.duplicates_dropped} duplicate "
                 f"pairs dropped)", f"  problem outcomes: {dict(sorted(self.status_counts.items()))}"]
        lines += [f"  FAILED {qid}: {err}" for qid, err in list(self.failed.items())[:10]]
        if len(self.failed) > 10:
            lines.append(f"  ... and {len(self.failed) - 10} more failures")
        return "\n".join(lines)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _same(s: dict[str, Any]) -> tuple[str, str]:
    return _norm(s["reasoning"]), _norm(s["code"])


def _sample(index: int, verdict: Verdict) -> dict[str, Any]:
    return {"index": index, "reasoning": verdict.reasoning, "code": verdict.code, "format_ok": verdict.format_ok,
            "passed": verdict.passed, "status": verdict.status, "detail": verdict.detail,
            "consistent": None, "judge_raw": ""}


def unique_samples(samples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop samples whose (reasoning, code) repeats an earlier one (whitespace-insensitive)."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for s in samples:
        first.setdefault(_same(s), s)
    return list(first.values())


def usable(s: dict[str, Any]) -> bool:
    """A well-formed sample (P-GRPO format, reasoning and code) whose code really ran."""
    return (bool(s["format_ok"]) and bool(s["reasoning"].strip()) and bool(s["code"].strip())
            and s["status"] not in ("sandbox_error", "no_code"))


def needs_judging(samples: Sequence[dict[str, Any]]) -> bool:
    """A pair is possible only with a usable passing and a usable failing sample (and a working sandbox)."""
    if any(s["status"] == "sandbox_error" for s in samples):
        return False
    return any(usable(s) and s["passed"] for s in samples) and any(
        usable(s) and not s["passed"] for s in samples)


def select_pairs(problem: Problem, samples: Sequence[dict[str, Any]], k: int, seed: int) -> list[dict[str, Any]]:
    """Up to k (good, bad) pairs with distinct samples, chosen with a per-problem seeded RNG."""
    # both sides' reasoning is consistent with their code: the rejected reasoning led to the wrong program
    consistent = [s for s in unique_samples(samples) if usable(s) and s["consistent"] is True]
    goods = [s for s in consistent if s["passed"]]
    bads = [s for s in consistent if not s["passed"]]
    rng = random.Random(f"{seed}:{problem.task_id}")
    rng.shuffle(goods)
    rng.shuffle(bads)
    return [{
        "question_id": problem.task_id,
        "problem": problem.statement,
        "difficulty": problem.difficulty,
        "contest_date": problem.contest_date.isoformat() if problem.contest_date else None,
        "chosen_reasoning": good["reasoning"], "chosen_code": good["code"],
        "rejected_reasoning": bad["reasoning"], "rejected_code": bad["code"],
        "chosen_sample": good["index"], "rejected_sample": bad["index"],
        "rejected_status": bad["status"], "rejected_detail": bad["detail"],
    } for good, bad in list(zip(goods, bads))[:k]]


def pair_hash(row: dict[str, Any]) -> str:
    key = "\x00".join(_norm(row[k]) for k in ("problem", "chosen_reasoning", "chosen_code",
                                               "rejected_reasoning", "rejected_code"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class BenchBuild:
    """One `pgrpo bench build` run over `problems` into `out_dir`; `verify_fn` judges every sample."""

    def __init__(self, problems: Sequence[Problem], generator: ChatBackend, judge: Judge, out_dir: str | Path,
                 config: BenchConfig, verify_fn: BatchVerify,
                 window: tuple[str | None, str | None] = (None, None)) -> None:
        self.problems = list(problems)
        self.generator = generator
        self.judge = judge
        self.out = Path(out_dir)
        self.config = config
        self.verify_fn = verify_fn
        self.window = window
        self.journal = Journal(self.out / JOURNAL_FILE, key="question_id")
        self.summary = BenchSummary(problems=len(self.problems))

    def run(self, progress: bool = True) -> BenchSummary:
        from tqdm.auto import tqdm

        from pgrpo.data.prompts import build_messages

        c = self.config
        todo = [p for p in self.problems if not self.journal.done(p.task_id)]
        self.summary.resumed = len(self.problems) - len(todo)
        bar = tqdm(total=len(self.problems), initial=self.summary.resumed, desc="LCB-RB", unit="problem",
                   disable=not progress)
        for start in range(0, len(todo), c.batch_problems):
            batch = todo[start:start + c.batch_problems]
            reqs = [ChatRequest(build_messages(p, c.prompt_style), temperature=c.temperature, top_p=c.top_p,
                                max_tokens=c.max_tokens, n=c.samples, seed=c.seed) for p in batch]
            results = self.generator.generate(reqs)
            sampled = []
            for problem, res in zip(batch, results):
                if res.ok:
                    sampled.append((problem, res.texts))
                else:
                    self.summary.failed[problem.task_id] = f"sampling: {res.error}"
            self._execute_and_judge(sampled)
            bar.update(len(batch))
        bar.close()
        return self.finalize()

    def _execute_and_judge(self, sampled: list[tuple[Problem, list[str]]]) -> None:
        items = [(p, t) for p, texts in sampled for t in texts]
        verdicts = iter(self.verify_fn(items) if items else [])
        per_problem = [(problem, [_sample(i, next(verdicts)) for i in range(len(texts))])
                       for problem, texts in sampled]
        to_judge = [(pi, s) for pi, (_, samples) in enumerate(per_problem) if needs_judging(samples)
                    for s in unique_samples(samples) if usable(s)]
        judged = self.judge.judge([JudgeItem(per_problem[pi][0], s["reasoning"], s["code"]) for pi, s in to_judge])
        judge_errors: dict[int, str] = {}
        for (pi, s), judgement in zip(to_judge, judged):
            if judgement.error is not None:
                judge_errors.setdefault(pi, judgement.error)
            s["consistent"], s["judge_raw"] = judgement.consistent, judgement.raw
        for pi, (problem, samples) in enumerate(per_problem):
            broken = next((s for s in samples if s["status"] == "sandbox_error"), None)
            if broken is not None:  # says nothing about the code: retry the problem next run
                self.summary.failed[problem.task_id] = f"sandbox: {broken['detail'][:300]}"
                continue
            if pi in judge_errors:
                self.summary.failed[problem.task_id] = f"judge: {judge_errors[pi]}"
                continue
            # copy each judged verdict to its duplicates (only unique samples were judged)
            verdict_of = {_same(s): s for s in unique_samples(samples)}
            for s in samples:
                first = verdict_of[_same(s)]
                s["consistent"], s["judge_raw"] = first["consistent"], first["judge_raw"]
            pairs = select_pairs(problem, samples, self.config.pairs_per_problem, self.config.seed)
            status = ("paired" if pairs else "no_correct" if not any(usable(s) and s["passed"] for s in samples)
                      else "no_incorrect" if not needs_judging(samples) else "no_consistent_pair")
            self.summary.failed.pop(problem.task_id, None)
            self.journal.append({"question_id": problem.task_id, "status": status,
                                 "difficulty": problem.difficulty,
                                 "contest_date": problem.contest_date.isoformat() if problem.contest_date else None,
                                 "samples": samples, "pairs": pairs})
            self.summary.finished += 1

    def finalize(self) -> BenchSummary:
        """Rebuild lcb_rb.jsonl, review.md and the datasheet from the journal."""
        order = {p.task_id: i for i, p in enumerate(self.problems)}
        records = sorted(self.journal, key=lambda r: order.get(r["question_id"], len(order)))
        rows, seen = [], set()
        self.summary.duplicates_dropped = 0
        for record in records:
            for row in record["pairs"]:
                h = pair_hash(row)
                if h in seen:
                    self.summary.duplicates_dropped += 1
                    continue
                seen.add(h)
                rows.append(row)
        self.summary.status_counts = dict(Counter(record["status"] for record in records))
        self.summary.pairs = write_jsonl(self.out / BENCH_FILE, rows)
        write_review(self.out / "review.md", rows, records)
        meta = {"generator": f"{self.generator.name}:{self.generator.model}",
                "judge": f"{self.judge.name}:{self.judge.model}", "samples_per_problem": self.config.samples,
                "temperature": self.config.temperature, "seed": self.config.seed,
                "requested_window": list(self.window)}
        write_datasheet(self.out, rows, records, self.summary, meta)
        return self.summary


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
    return "no verdict" if value is None else "CONSISTENT" if value else "INCONSISTENT"


def write_datasheet(out: Path, rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]],
                    summary: BenchSummary, meta: dict[str, Any]) -> None:
    """datasheet.json and .md: counts, difficulty mix, date window, sample statistics, settings."""
    samples = [s for r in records for s in r["samples"]]
    dates = sorted(r["contest_date"] for r in rows if r.get("contest_date"))
    sheet = {
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
    (out / "datasheet.json").write_text(json.dumps(sheet, indent=2) + "\n", encoding="utf-8")
    lines = ["# LCB-RB datasheet", "",
             "Pairs of (correct code + reasoning consistent with it) over (incorrect code + reasoning "
             "consistent with it) for the same LiveCodeBench problem; see pgrpo.bench.build.", ""]
    for key, value in sheet.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"- **{key}**: {shown}")
    lines += ["", "Summary as the run printed it:", "", "```", summary.format(), "```", ""]
    (out / "datasheet.md").write_text("\n".join(lines), encoding="utf-8")
