"""The LCB-RB builder (`pgrpo bench build`), spec part 1.

Owns `BenchConfig`, `BenchBuild` and pair selection. For each LiveCodeBench-format problem:
  1. the generator samples K responses (reasoning + code; paper: K = 50) in one request (n=K);
  2. each response is judged by `pgrpo.verify` (its code runs in the sandbox; any `BatchVerify`);
  3. when the problem has both a correct and an incorrect sample, a `Judge` says whether each
     sample's reasoning is consistent with its code;
  4. pairs: chosen = correct code + consistent reasoning ("good reasoning"), rejected =
     incorrect code + consistent reasoning (the reasoning led to the bug: "bad reasoning"),
     same problem, up to `pairs_per_problem`, samples deduplicated first, pairs deduplicated
     across the whole benchmark.
Output (pgrpo.rm.benchmarks `lcb-rb` rows, read by `pgrpo rm eval`): lcb_rb.jsonl, plus
review.md (human review) and datasheet.md/json (pgrpo.bench.report). Resumable: LLM calls are
cached, every finished problem is journaled (samples.jsonl) and outputs are rebuilt from the
journal; problems whose LLM calls failed are reported and left for the next run.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from pgrpo.bench.judge import Judge, JudgeItem
from pgrpo.config import OptionsModel
from pgrpo.data.io import write_jsonl
from pgrpo.data.journal import Journal
from pgrpo.data.problem import Problem
from pgrpo.llm.base import ChatBackend
from pgrpo.llm.types import ChatRequest
from pgrpo.verify import BatchVerify, Verdict

BENCH_FILE = "lcb_rb.jsonl"
JOURNAL_FILE = "samples.jsonl"


class BenchConfig(OptionsModel):
    """`pgrpo bench build`'s sampling options (errors name the flag)."""

    model_config = ConfigDict(frozen=True)

    samples: int = Field(default=50, ge=1)  # K responses per problem
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(default=4096, ge=1)
    seed: int = 0
    prompt_style: str = "pgrpo"
    pairs_per_problem: int = Field(default=1, ge=1)
    batch_problems: int = Field(default=4, ge=1)


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


def sample_record(index: int, verdict: Verdict) -> dict[str, Any]:
    return {"index": index, "reasoning": verdict.reasoning, "code": verdict.code, "format_ok": verdict.format_ok,
            "passed": verdict.passed, "status": verdict.status, "detail": verdict.detail,
            "consistent": None, "judge_raw": ""}


def unique_samples(samples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop samples whose (reasoning, code) repeats an earlier one (whitespace-insensitive)."""
    seen, out = set(), []
    for s in samples:
        key = (_norm(s["reasoning"]), _norm(s["code"]))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


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
    rows = []
    for good, bad in list(zip(goods, bads))[:k]:
        rows.append({
            "question_id": problem.task_id,
            "problem": problem.statement,
            "difficulty": problem.difficulty,
            "contest_date": problem.contest_date.isoformat() if problem.contest_date else None,
            "chosen_reasoning": good["reasoning"], "chosen_code": good["code"],
            "rejected_reasoning": bad["reasoning"], "rejected_code": bad["code"],
            "chosen_sample": good["index"], "rejected_sample": bad["index"],
            "rejected_status": bad["status"], "rejected_detail": bad["detail"],
        })
    return rows


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
        per_problem = [(problem, [sample_record(i, next(verdicts)) for i in range(len(texts))])
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
            verdict_of = {(_norm(s["reasoning"]), _norm(s["code"])): s for s in unique_samples(samples)}
            for s in samples:
                first = verdict_of[(_norm(s["reasoning"]), _norm(s["code"]))]
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
        from pgrpo.bench.report import write_datasheet, write_review

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
