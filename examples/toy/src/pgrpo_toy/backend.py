"""The toy world behind pgrpo's LLM interfaces: the "toy" chat backend and the "toy-oracle" judge.

Owns `ToyBackend` (registered as `BACKENDS["toy"]`) and `OracleJudge` (`JUDGES["toy-oracle"]`).
ToyBackend answers the same chat requests a strong LLM gets, parsing what it needs from the
messages, so `pgrpo rm pairs` and `pgrpo bench build` run unchanged:
  - an OD rewrite request (pgrpo.rm.od_templates: "### Problem" / "### Solution", "BETTER" or
    "WORSE", the dimension's description) -> the rule-based editor's y+ or y- (pgrpo_toy.editor);
    degraded rewrites keep the code, optimized ones rewrite it from the improved steps when the
    original code did what its reasoning said;
  - any other request holding a toy statement -> an initial solution: the policy's own response
    for that statement when an `initial` JSONL (rows {"statement", "response"}) was given and
    that response is usable (valid format, readable steps), otherwise the canonical solution, degraded at random (seeded) half of the time, with code
    that follows the (possibly flawed) reasoning.
`editor` picks the rule-based editor (pgrpo_toy.editor.EDITORS: "plain", the fallible "blind"
one that applies every sign shortcut when optimizing, or the oracle-checked "honest" one), and
the model name says which (so a response cache never mixes editors). A request it can't read is a per-item error. The judge answers the LCB-RB question "is the
reasoning consistent with the code?" exactly (pgrpo_toy.oracle.consistent).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path

from pgrpo.bench import JUDGES, Judge, JudgeItem, JudgeVerdict
from pgrpo.config import ConfigError
from pgrpo.errors import DataError
from pgrpo.llm import BACKENDS, ChatBackend, ChatRequest, ChatResult
from pgrpo_toy import editor
from pgrpo_toy.editor import EDITORS
from pgrpo_toy.oracle import consistent, parse_reasoning, task_from_statement
from pgrpo_toy.world import ToyTask, canonical_reasoning, code_for, response

# Dimension descriptions in od_templates/dimensions.yaml open with these words.
_DIMENSION_WORDS = (("factual", "factual"), ("logic", "rigor"), ("rigor", "rigor"), ("coherence", "coherence"))
_REWRITE = re.compile(r"### Problem\s*(?P<statement>.+?)\s*### Solution\s*(?P<response>.+)\Z", re.S)


def dimension_of(text: str) -> str | None:
    """The oracle dimension a rewrite prompt asks about (first dimension word after 'only:')."""
    tail = text.split("one quality dimension only:", 1)[-1].lower()
    hits = [(tail.find(word), dim) for word, dim in _DIMENSION_WORDS if word in tail]
    return min(hits)[1] if hits else None


def load_initial(path: str | Path) -> dict[str, list[str]]:
    from pgrpo.data import iter_jsonl

    out: dict[str, list[str]] = {}
    for line, row in iter_jsonl(path):
        if not isinstance(row, dict) or "statement" not in row or "response" not in row:
            raise DataError(f"{path}:{line}: expected an object with 'statement' and 'response'")
        out.setdefault(str(row["statement"]).strip(), []).append(str(row["response"]))
    return out


@BACKENDS.register("toy")
class ToyBackend(ChatBackend):
    """The rule-based strong LLM of the toy world (see the module docstring)."""

    name = "toy"
    chunk_size = 256

    def __init__(self, model: str = "toy-editor", *, initial: str | None = None, seed: int = 0,
                 editor: str = "plain") -> None:
        if editor not in EDITORS:
            raise ConfigError(f"toy backend: unknown editor {editor!r}; known: {', '.join(EDITORS)}")
        self.initial = load_initial(initial) if initial else {}
        self.seed = seed
        self.editor = editor
        name = str(model) if editor == "plain" else f"{model}:{editor}"
        self.model = f"{name}:{Path(initial).name}" if initial else name

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        return [self._answer(req) for req in requests]

    def _answer(self, req: ChatRequest) -> ChatResult:
        user = "\n".join(m["content"] for m in req.messages if m["role"] == "user")
        rewrite = _REWRITE.search(user)
        try:
            if rewrite and ("BETTER" in user or "WORSE" in user):
                texts = [self._rewrite(req, user, rewrite.group("statement"), rewrite.group("response"), i)
                         for i in range(req.n)]
            else:
                texts = self._initial(req, user)
        except ValueError as exc:
            return ChatResult([], f"toy: {exc}")
        return ChatResult(texts)

    def _rewrite(self, req: ChatRequest, user: str, statement: str, text: str, index: int) -> str:
        from pgrpo.parsing import parse_response

        task = task_from_statement(statement)
        dim = dimension_of(user)
        if task is None or dim is None:
            raise ValueError("cannot read the problem or the dimension of this rewrite request")
        parsed = parse_response(text)
        if "BETTER" in user.split("only:", 1)[0]:
            reasoning = editor.optimize(task, parsed.reasoning, dim, self.editor)
            code = parsed.code
            if consistent(parsed.reasoning, parsed.code):
                code = code_for(list(parse_reasoning(reasoning).steps))
        else:
            rng = random.Random(f"{self.seed}:{req.seed}:{index}:{statement}:{text}:{dim}")
            reasoning = editor.degrade(task, parsed.reasoning, dim, rng, self.editor)
            code = parsed.code
        return response(reasoning, code)

    def _initial(self, req: ChatRequest, user: str) -> list[str]:
        task = task_from_statement(user)
        if task is None:
            raise ValueError("no toy problem statement in the request")
        from pgrpo_toy.world import statement as statement_of

        own = [t for t in self.initial.get(statement_of(task), []) if usable(t)]
        start = (req.seed or 0) + self.seed
        if own:
            return [own[(start + i) % len(own)] for i in range(req.n)]
        return [noisy_solution(task, random.Random(f"{start}:{i}:{user}")) for i in range(req.n)]


def usable(text: str) -> bool:
    """A policy response the editor can work on: valid format and at least one readable step."""
    from pgrpo.parsing import parse_response

    parsed = parse_response(text)
    reasoning = parse_reasoning(parsed.reasoning)
    return parsed.format_ok and bool(reasoning.steps or reasoning.skipped)


def noisy_solution(task: ToyTask, rng: random.Random) -> str:
    """Canonical half of the time, else one flaw; the code follows the stated steps."""
    if rng.random() < 0.5:
        reasoning = canonical_reasoning(task)
    else:
        reasoning, _ = editor.noisy_reasoning(task, rng)
    return response(reasoning, code_for(list(parse_reasoning(reasoning).steps)))


@JUDGES.register("toy-oracle")
class OracleJudge(Judge):
    """Exact consistency verdicts: the code performs exactly the reasoning's steps."""

    name = "toy-oracle"
    model = "oracle"

    def judge(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]:
        out = []
        for item in items:
            ok = consistent(item.reasoning, item.code)
            out.append(JudgeVerdict(ok, "CONSISTENT" if ok else "INCONSISTENT"))
        return out


def write_initial(path: str | Path, rows: Sequence[tuple[str, str]]) -> None:
    """Write (statement, response) rows as the `initial` JSONL ToyBackend reads."""
    Path(path).write_text("".join(json.dumps({"statement": s, "response": r}) + "\n" for s, r in rows),
                          encoding="utf-8")
