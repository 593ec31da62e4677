"""OD-based (optimized / degraded) preference pairs for reward-model training (`pgrpo rm pairs`).

Owns the pipeline of spec part 2, for each problem:
  1. the generator LLM writes an initial response y (reasoning + code, the P-GRPO format);
  2. for each quality dimension (od_templates/dimensions.yaml: factual, logic, coherence) it
     rewrites y into an optimized y+ and a degraded y- from the prompt templates in
     od_templates/ (overridable file by file with a templates directory);
  3. every variant is validated: non-empty, different from y, format kept (when y's format
     is valid), and with `execute` its code is run: a y+ whose code fails where y's passed
     is rejected;
  4. pairs in the RM training format (pgrpo.rm.data): y+ over y- "strong", y over y-
     "degraded", y+ over y "optimized"; prompt = the problem statement, each side = the
     reasoning only (default, what the RL thinking reward scores: R_t of (problem, reasoning))
     or, with `include_code`, `response_text(reasoning, code)`.
The side layout is written to `pgrpo_pairs.json` (`RMInputMeta`) next to pairs.jsonl;
`pgrpo rm train` copies it into the model's `pgrpo_rm.json`, which the RL side checks
against `reward.rm_include_code` so the RM is always scored on the layout it was trained on.
Resumable: LLM calls go through the CachedBackend, and each finished problem is journaled
(od_records.jsonl) with its outcome; problems whose LLM calls failed are reported and left
for the next run. pairs.jsonl and summary.json are rebuilt from the journal at the end.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pgrpo.bench.execution import Executor
from pgrpo.config import ConfigError
from pgrpo.data.io import write_jsonl
from pgrpo.data.problem import Problem
from pgrpo.llm.base import ChatBackend
from pgrpo.llm.journal import Journal
from pgrpo.llm.types import ChatRequest

TEMPLATE_DIR = Path(__file__).with_name("od_templates")
TEMPLATE_FILES = ("system.txt", "optimize.txt", "degrade.txt", "dimensions.yaml")
DIRECTIONS = ("optimized", "degraded")
PLACEHOLDERS = frozenset({"statement", "response", "dimension", "dimension_description"})
PAIRS_META_FILE = "pgrpo_pairs.json"  # next to pairs.jsonl
RM_META_FILE = "pgrpo_rm.json"  # in a trained reward model's directory


@dataclass(frozen=True)
class RMInputMeta:
    """What the RM reads besides (problem, reasoning): `include_code` = a code section too.
    `source` says how it was decided (pgrpo rm pairs / pairs metadata / detected / flag)."""

    include_code: bool
    source: str = ""

    def write(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"include_code": self.include_code, "source": self.source,
                                          "template": "pgrpo.rm.template.rm_input_text"}, indent=2) + "\n",
                              encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> RMInputMeta | None:
        """The metadata in `path`, None if there is no such file; ConfigError if it is malformed."""
        path = Path(path)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable RM input metadata: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("include_code"), bool):
            raise ConfigError(f"{path}: expected a JSON object with a boolean 'include_code'")
        return cls(data["include_code"], str(data.get("source", "")))


def read_rm_meta(model_dir: str | Path) -> RMInputMeta | None:
    """The RM input layout recorded by `pgrpo rm train` in `model_dir`, None if not recorded."""
    return RMInputMeta.read(Path(model_dir) / RM_META_FILE)


def detect_include_code(sides: Sequence[str]) -> bool:
    """Whether pair sides carry a code section (most sides contain the template's code header)."""
    from pgrpo.rm.template import CODE_HEADER

    with_code = sum(CODE_HEADER.strip() in side for side in sides)
    return bool(sides) and 2 * with_code > len(sides)


@dataclass(frozen=True)
class ODTemplates:
    """Rewrite prompts. `optimize` / `degrade` are string.Template texts ($statement, $response,
    $dimension, $dimension_description); `dimensions` maps name -> description, in order."""

    system: str
    optimize: str
    degrade: str
    dimensions: dict[str, str]

    @classmethod
    def load(cls, override_dir: str | Path | None = None) -> ODTemplates:
        """The packaged templates, with any file present in `override_dir` replacing its default."""
        import yaml

        texts = {}
        for name in TEMPLATE_FILES:
            path = TEMPLATE_DIR / name
            if override_dir is not None and (Path(override_dir) / name).is_file():
                path = Path(override_dir) / name
            texts[name] = (path, path.read_text(encoding="utf-8"))
        for name in ("optimize.txt", "degrade.txt"):
            path, text = texts[name]
            found = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)} - {None}
            unknown = found - PLACEHOLDERS
            if unknown:
                raise ConfigError(f"{path}: unknown placeholder(s) {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}")
            if not {"statement", "response"} <= found:
                raise ConfigError(f"{path}: the template must use $statement and $response")
        path, text = texts["dimensions.yaml"]
        try:
            dims = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        if not isinstance(dims, dict) or not dims or not all(isinstance(v, str) for v in dims.values()):
            raise ConfigError(f"{path}: expected a mapping of dimension name -> description")
        return cls(texts["system.txt"][1].strip(), texts["optimize.txt"][1], texts["degrade.txt"][1],
                   {str(k): v.strip() for k, v in dims.items()})

    def messages(self, direction: str, dimension: str, statement: str, response: str) -> list[dict[str, str]]:
        template = self.optimize if direction == "optimized" else self.degrade
        user = string.Template(template).substitute(
            statement=statement.strip(), response=response.strip(), dimension=dimension,
            dimension_description=self.dimensions[dimension])
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class PairsConfig:
    """Sampling and validation settings for `run_pairs`."""

    dimensions: tuple[str, ...] = ()  # () = every dimension of the templates
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 2048
    seed: int = 0
    prompt_style: str = "pgrpo"
    batch_problems: int = 8  # problems per step (their LLM calls are batched together)
    execute: bool = False  # run the code of y and the variants
    require_format: bool = True  # y must have the P-GRPO format; variants must keep it
    include_code: bool = False  # pair sides = reasoning + code section (default: reasoning only)


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


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def side_text(response: str, include_code: bool = False) -> str:
    """A response as one side of a pair: its reasoning [+ its code section] (rm template).

    Reasoning-only sides equal what the RL thinking reward scores for the same completion.
    """
    from pgrpo.parsing import parse_response
    from pgrpo.rm.template import response_text

    parsed = parse_response(response)
    return response_text(parsed.reasoning or response.strip(), (parsed.code or None) if include_code else None)


def check_initial(text: str, require_format: bool) -> str | None:
    """Why the initial response can't seed pairs (None if it can)."""
    from pgrpo.parsing import parse_response

    if not text.strip():
        return "empty"
    parsed = parse_response(text)
    if require_format and not parsed.format_ok:
        return "bad format"
    if not parsed.reasoning.strip():
        return "no reasoning"
    return None


def check_variant(original: str, variant: str, require_format: bool) -> str | None:
    """Why a rewrite is unusable (None if usable): empty, unchanged, or format lost."""
    from pgrpo.parsing import parse_response

    if not variant.strip():
        return "empty"
    # "unchanged" looks at reasoning and code: a code-only rewrite is not a duplicate (build_pairs
    # drops its pairs if the sides come out identical).
    full = (_norm(side_text(variant, True)), _norm(side_text(original, True)))
    if _norm(variant) == _norm(original) or full[0] == full[1]:
        return "unchanged"
    parsed = parse_response(variant)
    if require_format and parse_response(original).format_ok and not parsed.format_ok:
        return "format lost"
    if not parsed.reasoning.strip():
        return "no reasoning"
    return None


def build_pairs(statement: str, initial: str, variants: dict[str, dict[str, str | None]],
                include_code: bool = False) -> list[dict[str, Any]]:
    """Pairs for one problem. `variants[dim][direction]` = valid rewrite text or None."""
    pairs = []
    y = side_text(initial, include_code)
    for dim, sides in variants.items():
        plus = side_text(sides["optimized"], include_code) if sides.get("optimized") else None
        minus = side_text(sides["degraded"], include_code) if sides.get("degraded") else None
        for pair_type, chosen, rejected in (("strong", plus, minus), ("degraded", y, minus),
                                            ("optimized", plus, y)):
            if chosen and rejected and _norm(chosen) != _norm(rejected):
                pairs.append({"prompt": statement, "chosen": chosen, "rejected": rejected,
                              "pair_type": pair_type, "dimension": dim})
    return pairs


class PairsRun:
    """One `pgrpo rm pairs` run over `problems` into `out_dir`."""

    def __init__(self, problems: Sequence[Problem], backend: ChatBackend, out_dir: str | Path,
                 config: PairsConfig = PairsConfig(), templates: ODTemplates | None = None,
                 executor: Executor | None = None) -> None:
        self.problems = list(problems)
        self.backend = backend
        self.out = Path(out_dir)
        self.config = config
        self.templates = templates or ODTemplates.load()
        unknown = [d for d in config.dimensions if d not in self.templates.dimensions]
        if unknown:
            raise ConfigError(f"dimensions: unknown {unknown}; known: {list(self.templates.dimensions)}")
        self.dimensions = list(config.dimensions or self.templates.dimensions)
        if config.execute and executor is None:
            from pgrpo.bench.execution import sandbox_executor

            executor = sandbox_executor()
        self.executor = executor
        self.journal = Journal(self.out / "od_records.jsonl", key="task_id")
        # Records store finished pairs: resuming with the other side layout would mix layouts.
        old = RMInputMeta.read(self.out / PAIRS_META_FILE)
        if old is not None and old.include_code != config.include_code and len(self.journal):
            raise ConfigError(f"{self.out / PAIRS_META_FILE}: this output directory holds pairs with "
                              f"include_code={old.include_code}; rerun with the same setting or a new --out")
        self.summary = PairsSummary(problems=len(self.problems))

    def _request(self, messages: list[dict[str, str]]) -> ChatRequest:
        c = self.config
        return ChatRequest(messages, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, seed=c.seed)

    def run(self, progress: bool = True) -> PairsSummary:
        from tqdm.auto import tqdm

        from pgrpo.data.prompts import build_messages

        # Written first, so even a killed run's journal has its layout on record.
        RMInputMeta(self.config.include_code, "pgrpo rm pairs").write(self.out / PAIRS_META_FILE)
        todo = [p for p in self.problems if not self.journal.done(p.task_id)]
        self.summary.resumed = len(self.problems) - len(todo)
        bar = tqdm(total=len(self.problems), initial=self.summary.resumed, desc="OD pairs", unit="problem",
                   disable=not progress)
        for start in range(0, len(todo), self.config.batch_problems):
            batch = todo[start:start + self.config.batch_problems]
            initial = self.backend.generate([self._request(build_messages(p, self.config.prompt_style))
                                             for p in batch])
            seeded = []
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
        bar.close()
        return self.finalize()

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
            variants = []
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

    def _execute(self, checks: list[tuple[Problem, str, list[dict[str, Any]]]]) -> list[bool | None]:
        """With `execute`: record pass/fail of y and valid variants; reject y+ that break passing code."""
        if self.executor is None or not checks:
            return [None] * len(checks)
        from pgrpo.sandbox.programs import program_from_response

        items, where = [], []
        for ci, (problem, y, variants) in enumerate(checks):
            items.append((problem, program_from_response(problem, y)))
            where.append((ci, None))
            for vi, v in enumerate(variants):
                if v["valid"]:
                    items.append((problem, program_from_response(problem, v["text"])))
                    where.append((ci, vi))
        outcomes = self.executor(items)
        initial: list[bool | None] = [None] * len(checks)
        for (ci, vi), outcome in zip(where, outcomes):
            if vi is None:
                initial[ci] = outcome.passed
            else:
                checks[ci][2][vi]["passed"] = outcome.passed
        for ci, (_, _, variants) in enumerate(checks):
            for v in variants:
                if v["valid"] and v["direction"] == "optimized" and initial[ci] and v["passed"] is False:
                    v["valid"], v["reason"] = False, "optimized code fails where the original passed"
        return initial

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
        s.variants = s.variants_valid = 0
        order = {p.task_id: i for i, p in enumerate(self.problems)}
        records = sorted(self.journal, key=lambda r: order.get(r["task_id"], len(order)))
        status, reasons = Counter(), Counter()
        counts: dict[str, Counter] = {d: Counter() for d in self.dimensions}
        pairs = []
        for record in records:
            status[record["status"]] += 1
            for v in record["variants"]:
                s.variants += 1
                s.variants_valid += bool(v["valid"])
                if not v["valid"]:
                    reasons[v["reason"]] += 1
            for pair in record["pairs"]:
                counts.setdefault(pair["dimension"], Counter())[pair["pair_type"]] += 1
                pairs.append(pair)
        s.status_counts = dict(status)
        s.rejection_reasons = dict(reasons)
        s.pair_counts = {d: {t: c[t] for t in ("strong", "degraded", "optimized")} for d, c in counts.items()}
        s.pairs = write_jsonl(self.out / "pairs.jsonl", pairs)
        RMInputMeta(self.config.include_code, "pgrpo rm pairs").write(self.out / PAIRS_META_FILE)
        (self.out / "summary.json").write_text(json.dumps(asdict(s), indent=2) + "\n", encoding="utf-8")
        return s
