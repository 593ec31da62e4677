"""`pgrpo rm pairs`' pipeline of OD (optimized / degraded) preference pairs: per problem an initial
response y, per dimension a y+ and a y- (texts: pgrpo.rm.od), validated and, with `execute`, judged
by a `BatchVerify`; strong / degraded / optimized pairs to pairs.jsonl. Resumable: LLM calls are
cached and finished problems journaled (od_records.jsonl).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from pgrpo.config import COMMA_LIST, ConfigError, Flag, OptionsModel
from pgrpo.data.cli_args import PromptStyleName
from pgrpo.data.io import write_jsonl
from pgrpo.data.journal import Journal
from pgrpo.data.problem import Problem
from pgrpo.data.prompts import build_messages
from pgrpo.llm.base import ChatBackend, ChatRequest
from pgrpo.rm.manifest import PAIRS_SPEC_FILE, PairsSpec
from pgrpo.rm.od import DIRECTIONS, ODTemplates, build_pairs, check_initial, check_variant
from pgrpo.verify import BatchVerify, Verifier


class PairsConfig(OptionsModel):
    """Sampling and validation settings for `run_pairs` (`pgrpo rm pairs`' options: errors name the flag)."""

    model_config = ConfigDict(frozen=True)
    dimensions: Annotated[tuple[str, ...], COMMA_LIST] = Field(
        default=(), description="comma list (default: all in dimensions.yaml)")
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1,
                         description="nucleus sampling of the OD calls (default 1.0: off)")
    max_tokens: int = Field(default=2048, ge=1)
    seed: int = 0
    batch_problems: int = Field(default=8, ge=1, description="problems whose calls are batched")
    execute: bool = Field(default=False, description="run the code of y and its variants in the sandbox")
    require_format: Annotated[bool, Flag("--no-require-format")] = Field(
        default=True, description="accept responses without the <think>/<answer> format")
    include_code: bool = Field(default=False, description=(
        "pair sides = reasoning + code (default: reasoning only, what the RL reward scores); `rm train` "
        "records it in the RM's manifest"))
    prompt_style: PromptStyleName = "pgrpo"


@dataclass
class PairsSummary:
    """What a run produced; counts cover every journaled problem (this run and resumed ones)."""

    problems: int = 0
    resumed: int = 0  # already journaled before this run
    finished: int = 0  # journaled in this run
    status_counts: dict[str, int] = field(default_factory=dict)  # ok / initial_invalid / no_valid_variants
    variants: int = 0
    variants_valid: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    pair_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # dimension -> pair_type -> n
    pairs: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # task_id -> error (left for the next run)

    def format(self) -> str:
        lines = [f"OD pairs: {self.pairs} pairs from {self.problems} problems "
                 f"({self.resumed} resumed, {self.finished} done now, {len(self.failed)} failed)",
                 f"  problem outcomes: {dict(sorted(self.status_counts.items()))}",
                 f"  variants: {self.variants_valid}/{self.variants} valid"]
        if self.rejection_reasons:
            lines.append(f"  rejected variants: {dict(sorted(self.rejection_reasons.items()))}")
        for dim, counts in self.pair_counts.items():
            lines.append(f"  {dim}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for task_id, error in list(self.failed.items())[:10]:
            lines.append(f"  FAILED {task_id}: {error}")
        if len(self.failed) > 10:
            lines.append(f"  ... and {len(self.failed) - 10} more failures (see summary.json)")
        return "\n".join(lines)


class PairsRun:
    """One `pgrpo rm pairs` run over `problems` into `out_dir`."""

    def __init__(self, problems: Sequence[Problem], backend: ChatBackend, out_dir: str | Path,
                 config: PairsConfig = PairsConfig(), templates: ODTemplates | None = None,
                 verify_fn: BatchVerify | None = None) -> None:
        self.problems = list(problems)
        self.backend = backend
        self.out = Path(out_dir)
        self.config = config
        self.templates = templates or ODTemplates.load()
        unknown = [d for d in config.dimensions if d not in self.templates.dimensions]
        if unknown:
            raise ConfigError(f"dimensions: unknown {unknown}; known: {list(self.templates.dimensions)}")
        self.dimensions = list(config.dimensions or self.templates.dimensions)
        self.verify_fn = verify_fn
        self._own_verifier: Verifier | None = None  # started on first use when `execute` and none given
        self.journal = Journal(self.out / "od_records.jsonl", key="task_id")
        # Records store finished pairs: resuming with the other side layout would mix layouts.
        old = PairsSpec.read(self.out)
        if old is not None and old.include_code != config.include_code and len(self.journal):
            raise ConfigError(f"{self.out / PAIRS_SPEC_FILE}: this output directory holds pairs with "
                              f"include_code={old.include_code}; rerun with the same setting or a new --out")
        self.summary = PairsSummary(problems=len(self.problems))

    def _request(self, messages: list[dict[str, str]]) -> ChatRequest:
        c = self.config
        return ChatRequest(messages, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, seed=c.seed)

    def run(self, progress: bool = True) -> PairsSummary:
        from tqdm.auto import tqdm

        # Written first, so even a killed run's journal has its layout on record.
        PairsSpec(self.config.include_code).write(self.out)
        todo = [p for p in self.problems if not self.journal.done(p.task_id)]
        self.summary.resumed = len(self.problems) - len(todo)
        bar = tqdm(total=len(self.problems), initial=self.summary.resumed, desc="OD pairs", unit="problem",
                   disable=not progress)
        try:
            self._run_batches(todo, bar)
        finally:
            bar.close()
            if self._own_verifier is not None:
                self._own_verifier.close()
                self._own_verifier = self.verify_fn = None
        return self.finalize()

    def _run_batches(self, todo: list[Problem], bar: Any) -> None:
        for start in range(0, len(todo), self.config.batch_problems):
            batch = todo[start:start + self.config.batch_problems]
            initial = self.backend.generate([self._request(build_messages(p, self.config.prompt_style))
                                             for p in batch])
            seeded: list[tuple[Problem, str]] = []
            for problem, res in zip(batch, initial):
                if not res.ok:
                    self.summary.failed[problem.task_id] = f"initial response: {res.error}"
                    continue
                reason = check_initial(res.text, self.config.require_format)
                if reason:
                    self._finish(problem, "initial_invalid", res.text, [], [], reason)
                else:
                    seeded.append((problem, res.text))
            self._rewrite(seeded)
            bar.update(len(batch))

    def _rewrite(self, seeded: list[tuple[Problem, str]]) -> None:
        keys = [(d, direction) for d in self.dimensions for direction in DIRECTIONS]
        reqs = [self._request(self.templates.messages(direction, d, p.statement, y))
                for p, y in seeded for d, direction in keys]
        results = self.backend.generate(reqs) if reqs else []
        checks: list[tuple[Problem, str, list[dict[str, Any]]]] = []
        for i, (problem, y) in enumerate(seeded):
            mine = results[i * len(keys):(i + 1) * len(keys)]
            errors = [r.error for r in mine if not r.ok]
            if errors:
                self.summary.failed[problem.task_id] = f"rewrite: {errors[0]}"
                continue
            variants: list[dict[str, Any]] = []
            for (dim, direction), res in zip(keys, mine):
                reason = check_variant(y, res.text, self.config.require_format)
                variants.append({"dimension": dim, "direction": direction, "text": res.text,
                                 "valid": reason is None, "reason": reason or "", "passed": None})
            checks.append((problem, y, variants))
        initial_passed = self._execute(checks)
        for (problem, y, variants), y_passed in zip(checks, initial_passed):
            valid: dict[str, dict[str, str | None]] = {d: {"optimized": None, "degraded": None}
                                                       for d in self.dimensions}
            for v in variants:
                if v["valid"]:
                    valid[v["dimension"]][v["direction"]] = v["text"]
            pairs = build_pairs(problem.statement, y, valid, self.config.include_code)
            status = "ok" if pairs else "no_valid_variants"
            self._finish(problem, status, y, variants, pairs, "", y_passed)

    def _verify(self, items: list[tuple[Problem, str]]) -> list[bool]:
        """Whether each (problem, response) passes, by `verify_fn` or the run's own Verifier."""
        if self.verify_fn is None:
            self._own_verifier = self._own_verifier or Verifier()
            self.verify_fn = self._own_verifier
        return [verdict.passed for verdict in self.verify_fn(items)]

    def _execute(self, checks: list[tuple[Problem, str, list[dict[str, Any]]]]) -> list[bool | None]:
        """With `execute`: record pass/fail of y and valid variants; reject y+ that break passing code."""
        if not self.config.execute or not checks:
            return [None] * len(checks)
        items: list[tuple[Problem, str]] = []
        targets: list[dict[str, Any]] = []  # where each verdict goes: y's record or a variant
        initial: list[dict[str, Any]] = [{} for _ in checks]
        for (problem, y, variants), record in zip(checks, initial):
            for text, target in [(y, record)] + [(v["text"], v) for v in variants if v["valid"]]:
                items.append((problem, text))
                targets.append(target)
        for target, passed in zip(targets, self._verify(items), strict=True):
            target["passed"] = passed
        for (_, _, variants), record in zip(checks, initial):
            for v in variants:
                if v["valid"] and v["direction"] == "optimized" and record["passed"] and v["passed"] is False:
                    v["valid"], v["reason"] = False, "optimized code fails where the original passed"
        return [record["passed"] for record in initial]

    def _finish(self, problem: Problem, status: str, initial: str, variants: list[dict[str, Any]],
                pairs: list[dict[str, Any]], reason: str, initial_passed: bool | None = None) -> None:
        self.summary.failed.pop(problem.task_id, None)
        self.journal.append({"task_id": problem.task_id, "status": status, "reason": reason,
                             "initial": initial, "initial_passed": initial_passed,
                             "variants": variants, "pairs": pairs})
        self.summary.finished += 1

    def finalize(self) -> PairsSummary:
        """Rebuild pairs.jsonl and summary.json from the journal (problem order)."""
        s = self.summary
        order = {p.task_id: i for i, p in enumerate(self.problems)}
        records = sorted(self.journal, key=lambda r: order.get(r["task_id"], len(order)))
        variants = [v for record in records for v in record["variants"]]
        pairs = [pair for record in records for pair in record["pairs"]]
        s.variants, s.variants_valid = len(variants), sum(bool(v["valid"]) for v in variants)
        s.status_counts = dict(Counter(record["status"] for record in records))
        s.rejection_reasons = dict(Counter(v["reason"] for v in variants if not v["valid"]))
        counts: dict[str, Counter[str]] = {d: Counter() for d in self.dimensions}
        for pair in pairs:
            counts.setdefault(pair["dimension"], Counter())[pair["pair_type"]] += 1
        s.pair_counts = {d: {t: c[t] for t in ("strong", "degraded", "optimized")} for d, c in counts.items()}
        s.pairs = write_jsonl(self.out / "pairs.jsonl", pairs)
        (self.out / "summary.json").write_text(json.dumps(asdict(s), indent=2) + "\n", encoding="utf-8")
        return s
