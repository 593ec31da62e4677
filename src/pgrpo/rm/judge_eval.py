"""The LLM-as-judge baseline of `pgrpo rm eval` (evaluator "llm-judge"): a ChatBackend (through
`CachedBackend`) asked which of two responses reasons better, twice with the positions swapped:
win (1, 0) / loss (0, 1) when both orders agree, else a tie (0.5, 0.5), as is a failed query or an
unparsable verdict (listed in `failures`, never dropped). Options: `--option key=value` (JUDGE_KEYS,
then any option of the backend).
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pgrpo.errors import PgrpoError
from pgrpo.llm import import_backend_modules, make_backend
from pgrpo.llm.base import BACKENDS, ChatBackend, ChatRequest
from pgrpo.llm.cache import CachedBackend
from pgrpo.rm.bench_formats import EvalPair
from pgrpo.rm.evaluate import EvaluatorOptions
from pgrpo.rm.scoring import RMItem
from pgrpo.rm.template import response_text

JUDGE_PROMPT = """You are comparing two responses to the same programming problem. Each response \
explains its reasoning (and may end with code). Decide which response has the better reasoning \
process: factually correct, logically rigorous, coherent, and leading to a correct solution. \
Do not let the order of the responses or their length influence you.

### Problem
$statement

### Response A
$response_a

### Response B
$response_b

Give a brief justification, then your verdict on the last line: [[A]] if Response A is better, \
[[B]] if Response B is better.
"""

_BRACKETED = re.compile(r"\[\[\s*([AB])\s*\]\]", re.IGNORECASE)
_BARE = re.compile(r"^\W*(?:response\s+)?([AB])\W*$", re.IGNORECASE)
_PHRASE = re.compile(r"(?:verdict|answer|winner|choice|better(?:\s+response)?(?:\s+is)?)\s*(?:is)?\s*[:=]?\s*\W*"
                     r"(?:response\s+)?([AB])\b", re.IGNORECASE)
# Option keys of the judge itself; everything else goes to the backend.
JUDGE_KEYS = ("backend", "model", "cache_dir", "include_code", "template", "max_tokens", "temperature", "seed")


def parse_preference(text: str) -> str | None:
    """"A" or "B" from a judge answer ("[[A]]", a bare "B", "Verdict: A"), None if absent."""
    found = _BRACKETED.findall(text)
    if found:
        side: str = found[-1].upper()
        return side
    lines = [line for line in text.strip().splitlines() if line.strip()]
    bare = _BARE.match(lines[-1]) if lines else None
    if bare:
        return bare.group(1).upper()
    found = _PHRASE.findall(text)
    return found[-1].upper() if found else None


@dataclass(frozen=True)
class JudgeOutcome:
    """One pair's verdicts: `first` with chosen shown as A, `second` with chosen shown as B
    ("A" / "B" / None); `result` win / loss / tie; `error` why a query failed ("" if none)."""

    line: int
    pair_id: str | None
    first: str | None
    second: str | None
    result: str
    error: str = ""

    @property
    def scores(self) -> tuple[float, float]:
        return {"win": (1.0, 0.0), "loss": (0.0, 1.0)}.get(self.result, (0.5, 0.5))


def combine(first: str | None, second: str | None) -> str:
    """win / loss / tie from the two orders (chosen is A in the first query, B in the second)."""
    results: dict[tuple[str | None, str | None], str] = {("A", "B"): "win", ("B", "A"): "loss"}
    return results.get((first, second), "tie")


@dataclass
class LLMJudgeEvaluator:
    """Pairwise judge over `backend` (a CachedBackend); see the module docstring for the rules."""

    backend: ChatBackend
    include_code: bool = True  # show a side's code when the row has it
    template: str = JUDGE_PROMPT
    max_tokens: int = 1024
    temperature: float = 0.0
    seed: int = 0
    name: str = "llm-judge"
    outcomes: list[JudgeOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        try:
            string.Template(self.template).substitute(statement="", response_a="", response_b="")
        except (KeyError, ValueError) as exc:
            raise PgrpoError(f"llm-judge template: bad placeholder {exc}; "
                             "use $statement, $response_a, $response_b") from None

    @property
    def failures(self) -> list[JudgeOutcome]:
        return [o for o in self.outcomes if o.error]

    def _side(self, item: RMItem) -> str:
        code = item.code if self.include_code else None
        return response_text(item.reasoning, code or None)

    def request(self, statement: str, a: RMItem, b: RMItem) -> ChatRequest:
        text = string.Template(self.template).substitute(
            statement=statement.strip(), response_a=self._side(a), response_b=self._side(b))
        return ChatRequest([{"role": "user", "content": text}], temperature=self.temperature,
                           max_tokens=self.max_tokens, seed=self.seed)

    def compare(self, pairs: Sequence[EvalPair]) -> list[tuple[float, float]]:
        requests = [self.request(p.chosen.statement, a, b) for p in pairs
                    for a, b in ((p.chosen, p.rejected), (p.rejected, p.chosen))]
        results = self.backend.generate(requests) if requests else []
        self.outcomes = []
        for pair, replies in zip(pairs, zip(results[0::2], results[1::2])):
            verdicts = [parse_preference(res.text) if res.ok else None for res in replies]
            errors = [f"{order}: no verdict in {res.text.strip()[-120:]!r}" if res.ok else
                      f"{order}: call failed: {res.error}"
                      for order, res, v in zip(("chosen first", "chosen second"), replies, verdicts) if v is None]
            result = "tie" if errors else combine(verdicts[0], verdicts[1])
            self.outcomes.append(JudgeOutcome(pair.line, pair.pair_id, verdicts[0], verdicts[1], result,
                                              "; ".join(errors)))
        return [o.scores for o in self.outcomes]

    def failure_report(self, limit: int = 20) -> str:
        """Failed pairs (counted as ties), one per line; '' if none."""
        failed = self.failures
        if not failed:
            return ""
        lines = [f"llm-judge: {len(failed)} of {len(self.outcomes)} pair(s) failed and count as ties:"]
        lines += [f"  line {o.line} (id {o.pair_id}): {o.error}" for o in failed[:limit]]
        if len(failed) > limit:
            lines.append(f"  ... and {len(failed) - limit} more (see judge_verdicts.jsonl with --out)")
        return "\n".join(lines)


def _coerce(key: str, value: str, default: Any) -> Any:
    """A --option string as the type of the parameter's default (bool / int / float; pydantic's parsing:
    true/false/yes/no/1/0, 3, 0.5); other defaults take the string."""
    if not isinstance(default, (bool, int, float)):
        return value
    try:
        return TypeAdapter(type(default)).validate_python(value)
    except ValidationError:
        raise PgrpoError(f"--option {key}={value}: expected a {type(default).__name__}") from None


def build_backend(extra: dict[str, str]) -> ChatBackend:
    """The judge's CachedBackend from --option settings (unknown keys name the accepted ones)."""
    name = extra.get("backend", "openai")
    model = extra.get("model")
    if not model:
        raise PgrpoError("llm-judge: --option model=NAME is required (and backend=, base_url=, ... as needed)")
    import_backend_modules(name)
    try:
        params = inspect.signature(BACKENDS.get(name)).parameters
    except KeyError as exc:
        raise PgrpoError(f"--option backend: {exc.args[0]}") from None
    options = {}
    for key, value in extra.items():
        if key in JUDGE_KEYS:
            continue
        if key not in params or key == "model":
            known = sorted(set(JUDGE_KEYS) | {p for p in params if p not in ("self", "model")})
            raise PgrpoError(f"--option {key}: unknown for llm-judge with backend {name!r}; known: {known}")
        options[key] = _coerce(key, value, params[key].default)
    return CachedBackend(make_backend(name, model, **options), extra.get("cache_dir"))


def llm_judge_evaluator(options: EvaluatorOptions) -> LLMJudgeEvaluator:
    extra = options.extra
    template = JUDGE_PROMPT
    if "template" in extra:
        path = Path(extra["template"])
        if not path.is_file():
            raise PgrpoError(f"--option template: {path}: no such file")
        template = path.read_text(encoding="utf-8")
    settings = {k: _coerce(k, extra[k], default) for k, default in
                (("include_code", True), ("max_tokens", 1024), ("temperature", 0.0), ("seed", 0)) if k in extra}
    return LLMJudgeEvaluator(build_backend(extra), template=template, **settings)
