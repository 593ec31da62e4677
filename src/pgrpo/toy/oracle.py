"""The exact oracle of the toy world: grades a reasoning (and code) against the problem.

Owns the text parsers (`parse_phrase`, `parse_reasoning`, `parse_code`, `task_from_statement`)
and `grade(task, reasoning) -> Grade` along the paper's three dimensions, each in [0, 1]:
  - factual: share of step lines whose operation AND constant are the problem's, counted as a
    multiset (a wrong
    constant, or an operation the problem does not ask for, is a factual error);
  - rigor: longest common subsequence of operation TYPES between the reasoning's steps and
    the problem's, over the problem's step count (a skipped step or a wrong order lowers it;
    a wrong constant does not);
  - coherence: (n + 1) / (n + 1 + k) for a problem of n steps and k lines that are neither step
    lines nor the final "return" line (asides, contradictions, digressions); independent of
    how many step lines there are, so step edits never move it.
`quality` is their mean. `consistent(reasoning, code)`: the code does exactly the steps the
reasoning states (the LCB-RB judge's question). Deterministic, pure.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pgrpo.toy.world import FINAL_LINE, OPS, Step, ToyTask

_STEP_LINE = re.compile(r"^Step\s+\d+\s*:\s*(?P<body>.+?)\.?\s*$")
_STATEMENT = re.compile(r"Write a function f\(x\) for an integer x\.\s*(?P<ops>(?:Step \d+: [^.]+\.\s*)+)Return x\.")
_STATEMENT_STEP = re.compile(r"Step (?P<k>\d+): (?P<phrase>[^.]+)\.")


def _patterns() -> list[tuple[str, re.Pattern]]:
    out = []
    for spec in OPS.values():
        text = re.escape(spec.phrase).replace(re.escape("{c}"), r"(?P<c>-?\d+)")
        out.append((spec.name, re.compile(f"^{text}$")))
    return out


_PHRASES = _patterns()
_CODE_LINES = []
for _spec in OPS.values():
    _CODE_LINES.append((_spec.name, re.compile("^" + re.escape(_spec.code).replace(re.escape("{c}"), r"(?P<c>-?\d+)")
                                               .replace(r"\ ", r"\s*") + "$")))


def parse_phrase(text: str) -> Step | None:
    """The step a phrase like "multiply x by 3" states; None if it is not an operation phrase."""
    text = text.strip().rstrip(".").strip()
    for name, pattern in _PHRASES:
        m = pattern.match(text)
        if m:
            return Step(name, int(m.group("c")) if "c" in pattern.groupindex else 0)
    return None


def task_from_statement(text: str, task_id: str = "") -> ToyTask | None:
    """The task a toy statement describes (it may be embedded in a longer prompt); None if absent."""
    m = _STATEMENT.search(text)
    if not m:
        return None
    found = list(_STATEMENT_STEP.finditer(m.group("ops")))
    if [int(f.group("k")) for f in found] != list(range(1, len(found) + 1)):
        return None
    steps = [parse_phrase(f.group("phrase")) for f in found]
    known = [s for s in steps if s is not None]
    if not steps or len(known) < len(steps):
        return None
    return ToyTask(task_id, tuple(known))


@dataclass(frozen=True)
class ParsedReasoning:
    """`steps`: the operations stated by step lines, in order; `unknown_steps`: step lines
    with no recognisable operation; `other_lines`: non-empty lines that are neither step lines
    nor the final line; `lines`: all non-empty lines."""

    steps: tuple[Step, ...]
    unknown_steps: int
    other_lines: int
    lines: int


def parse_reasoning(reasoning: str) -> ParsedReasoning:
    steps, unknown, other, lines = [], 0, 0, 0
    for raw in reasoning.splitlines():
        line = raw.strip()
        if not line:
            continue
        lines += 1
        m = _STEP_LINE.match(line)
        if m:
            step = parse_phrase(m.group("body"))
            if step is None:
                unknown += 1
            else:
                steps.append(step)
        elif line != FINAL_LINE:
            other += 1
    return ParsedReasoning(tuple(steps), unknown, other, lines)


def parse_code(code: str) -> tuple[Step, ...] | None:
    """The steps of toy-shaped code (`def f(x):`, one op line each, `return x`); None otherwise."""
    lines = [ln.strip() for ln in code.strip().splitlines() if ln.strip()]
    if len(lines) < 2 or re.sub(r"\s", "", lines[0]) != "deff(x):" or lines[-1] != "return x":
        return None
    steps = []
    for line in lines[1:-1]:
        for name, pattern in _CODE_LINES:
            m = pattern.match(line)
            if m:
                steps.append(Step(name, int(m.group("c")) if "c" in pattern.groupindex else 0))
                break
        else:
            return None
    return tuple(steps)


def matched_steps(truth: tuple[Step, ...], stated: tuple[Step, ...] | list[Step]) -> int:
    """Multiset overlap: how many stated steps are (op, constant) steps of the problem."""
    remaining = Counter(truth)
    hits = 0
    for s in stated:
        if remaining[s] > 0:
            remaining[s] -= 1
            hits += 1
    return hits


def _lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


@dataclass(frozen=True)
class Grade:
    factual: float
    rigor: float
    coherence: float

    @property
    def quality(self) -> float:
        return (self.factual + self.rigor + self.coherence) / 3

    @property
    def perfect(self) -> bool:
        return self.factual == self.rigor == self.coherence == 1.0


def grade(task: ToyTask, reasoning: str) -> Grade:
    """Exact per-dimension grade of `reasoning` for `task` (see the module docstring)."""
    parsed = parse_reasoning(reasoning)
    if parsed.lines == 0:
        return Grade(0.0, 0.0, 0.0)
    stated = len(parsed.steps) + parsed.unknown_steps
    factual = matched_steps(task.steps, parsed.steps) / stated if stated else 1.0  # nothing false stated
    rigor = _lcs([s.op for s in parsed.steps], [s.op for s in task.steps]) / len(task.steps)
    expected = len(task.steps) + 1
    coherence = expected / (expected + parsed.other_lines)
    return Grade(factual, rigor, coherence)


def consistent(reasoning: str, code: str) -> bool:
    """The code performs exactly the steps the reasoning states, in the same order."""
    code_steps = parse_code(code)
    parsed = parse_reasoning(reasoning)
    return code_steps is not None and parsed.unknown_steps == 0 and code_steps == parsed.steps
