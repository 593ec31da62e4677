"""Judges of reasoning/code consistency for the LCB-RB builder: the `Judge` interface, the registry
`JUDGES` (plugins add theirs) and `LLMJudge`, which asks a ChatBackend for CONSISTENT or INCONSISTENT."""

from __future__ import annotations

import inspect
import re
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pgrpo.config import ConfigError
from pgrpo.data.problem import Problem
from pgrpo.errors import PgrpoError
from pgrpo.llm.base import ChatBackend, ChatRequest
from pgrpo.registry import Registry

JUDGE_TEMPLATE = Path(__file__).with_name("judge_template.txt")
_VERDICT = re.compile(r"\b(INCONSISTENT|CONSISTENT)\b")


@dataclass(frozen=True)
class JudgeItem:
    problem: Problem
    reasoning: str
    code: str


@dataclass(frozen=True)
class JudgeVerdict:
    """`consistent` is None when the answer has no verdict word; `error` is set when the call failed."""

    consistent: bool | None
    raw: str = ""
    error: str | None = None


class Judge(ABC):
    name: str = "abstract"
    model: str = ""

    @abstractmethod
    def judge(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]:
        """One verdict per item, same order; never raises for one bad item."""


JUDGES: Registry[Callable[..., Judge]] = Registry("judge")


def parse_verdict(text: str) -> bool | None:
    """The last CONSISTENT / INCONSISTENT word of `text` (case-insensitive); None if absent."""
    found = _VERDICT.findall(text.upper())
    return None if not found else found[-1] == "CONSISTENT"


@JUDGES.register("llm")
class LLMJudge(Judge):
    """Asks `backend`; an answer without a verdict word counts as no verdict (not consistent)."""

    name = "llm"

    def __init__(self, backend: ChatBackend, template_path: str | Path | None = None,
                 max_tokens: int = 512, seed: int = 0) -> None:
        self.backend = backend
        self.model = backend.model
        path = Path(template_path) if template_path else JUDGE_TEMPLATE
        if not path.is_file():
            raise ConfigError(f"{path}: judge template not found")
        self.template = path.read_text(encoding="utf-8")
        try:
            string.Template(self.template).substitute(statement="", reasoning="", code="")
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: bad placeholder {exc}; use $statement, $reasoning, $code") from None
        self.max_tokens = max_tokens
        self.seed = seed

    def request(self, item: JudgeItem) -> ChatRequest:
        text = string.Template(self.template).substitute(
            statement=item.problem.statement.strip(), reasoning=item.reasoning.strip(), code=item.code.strip("\n"))
        return ChatRequest([{"role": "user", "content": text}], temperature=0.0, max_tokens=self.max_tokens,
                           seed=self.seed)

    def judge(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]:
        results = self.backend.generate([self.request(it) for it in items]) if items else []
        return [JudgeVerdict(parse_verdict(res.text), res.text[-500:]) if res.ok
                else JudgeVerdict(None, "", res.error) for res in results]


def judge_factory(name: str) -> Callable[..., Judge]:
    """The registered judge `name` (a plugin's once plugins are loaded)."""
    try:
        return JUDGES.lookup(name)
    except KeyError as exc:
        raise PgrpoError(f"--judge: {exc.args[0]}") from None


def judge_needs_backend(name: str) -> bool:
    return "backend" in inspect.signature(judge_factory(name)).parameters


def make_judge(name: str, backend: ChatBackend | None = None, template_path: str | Path | None = None) -> Judge:
    """Judge `name`; it gets `backend` / `template_path` if its constructor takes them."""
    factory = judge_factory(name)
    accepted = inspect.signature(factory).parameters
    if "backend" in accepted and backend is None:
        raise PgrpoError(f"judge {name!r} needs an LLM backend (--judge-model)")
    kwargs = {k: v for k, v in (("backend", backend), ("template_path", template_path)) if k in accepted}
    return factory(**kwargs)
