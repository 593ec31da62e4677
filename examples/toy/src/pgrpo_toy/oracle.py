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
`quality` is their mean. A sign-shortcut line ("Step 2: skip negate x, the sign does not
matter."; pgrpo_toy.world) is judged against the problem together with the reasoning's other
skips (`skips_are_valid`: the program without every skipped step): a VALID skip
counts as the step stated (factual and rigor as if it were written out); an INVALID one is an
error: a false statement for factual (in the denominator, not the numerator) and a missing step
for rigor; skip lines never count against coherence. `shortcut_counts` counts both kinds.
`consistent(reasoning, code)`: the code does exactly the steps the reasoning states, skipped
steps excluded (the LCB-RB judge's question). Deterministic, pure.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pgrpo_toy.world import FINAL_LINE, OPS, SHORTCUT_TEMPLATE, Step, ToyTask, skips_are_valid

_STEP_LINE = re.compile(r"^Step\s+\d+\s*:\s*(?P<body>.+?)\.?\s*$")
_STATEMENT = re.compile(r"Write a function f\(x\) for an integer x\.\s*(?P<ops>(?:Step \d+: [^.]+\.\s*)+)Return x\.")
_STATEMENT_STEP = re.compile(r"Step (?P<k>\d+): (?P<phrase>[^.]+)\.")
_SKIP = re.compile("^" + re.escape(SHORTCUT_TEMPLATE).replace(re.escape("{phrase}"), "(?P<phrase>.+?)") + "$")


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
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


def parse_skip(text: str) -> Step | None:
    """The step a shortcut body ("skip negate x, the sign does not matter") skips; None otherwise."""
    m = _SKIP.match(text.strip().rstrip(".").strip())
    return parse_phrase(m.group("phrase")) if m else None


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
    """`steps`: the operations stated by step lines, in order (skipped ones excluded);
    `skipped`: the operations of shortcut lines, in order, with `skip_positions` their indexes
    in the sequence of all readable step and shortcut lines; `unknown_steps`: step lines with no
    recognisable operation; `other_lines`: non-empty lines that are neither step lines nor the
    final line; `lines`: all non-empty lines."""

    steps: tuple[Step, ...]
    unknown_steps: int
    other_lines: int
    lines: int
    skipped: tuple[Step, ...] = ()
    skip_positions: tuple[int, ...] = ()

    def sequence(self) -> list[tuple[Step, bool]]:
        """Every readable step and shortcut line in order, as (step, skipped)."""
        steps = iter(self.steps)
        skips = dict(zip(self.skip_positions, self.skipped))
        return [(skips[i], True) if i in skips else (next(steps), False)
                for i in range(len(self.steps) + len(self.skipped))]


def parse_reasoning(reasoning: str) -> ParsedReasoning:
    steps: list[Step] = []
    skipped: list[Step] = []
    positions: list[int] = []
    unknown = other = lines = 0
    for raw in reasoning.splitlines():
        line = raw.strip()
        if not line:
            continue
        lines += 1
        m = _STEP_LINE.match(line)
        if m:
            step = parse_phrase(m.group("body"))
            skip = parse_skip(m.group("body")) if step is None else None
            if step is not None:
                steps.append(step)
            elif skip is not None:
                positions.append(len(steps) + len(skipped))
                skipped.append(skip)
            else:
                unknown += 1
        elif line != FINAL_LINE:
            other += 1
    return ParsedReasoning(tuple(steps), unknown, other, lines, tuple(skipped), tuple(positions))


def skip_verdicts(task: ToyTask, parsed: ParsedReasoning) -> list[bool]:
    """Per shortcut line of `parsed`: whether its skip is valid. A reasoning's skips are judged
    jointly: all are valid iff the program without every skipped step returns the same value as
    `task` on SHORTCUT_CHECK_RANGE, else all are invalid. Each skipped step is matched to the
    problem's step of the same (op, constant) at the line's position, else its first such step
    not yet matched; a skip of a step the problem does not have makes the set invalid."""
    indexes: set[int] = set()
    for position, step in zip(parsed.skip_positions, parsed.skipped):
        where = [i for i, s in enumerate(task.steps) if s == step and i not in indexes]
        if not where:
            return [False] * len(parsed.skipped)
        indexes.add(position if position in where else where[0])
    return [skips_are_valid(task.steps, indexes)] * len(parsed.skipped)


@dataclass(frozen=True)
class ShortcutCounts:
    valid: int
    invalid: int


def shortcut_counts(task: ToyTask, reasoning: str) -> ShortcutCounts:
    """How many shortcut lines of `reasoning` skip validly / invalidly for `task`, judged jointly
    (skip_verdicts): a sample's lines are all valid or all invalid."""
    verdicts = skip_verdicts(task, parse_reasoning(reasoning))
    return ShortcutCounts(sum(verdicts), len(verdicts) - sum(verdicts))


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
    verdicts = iter(skip_verdicts(task, parsed))
    # Valid skips stand for their step; invalid ones are dropped (a missing step for rigor).
    effective = [step for step, skipped in parsed.sequence() if not skipped or next(verdicts)]
    invalid = len(parsed.steps) + len(parsed.skipped) - len(effective)
    stated = len(effective) + invalid + parsed.unknown_steps
    factual = matched_steps(task.steps, effective) / stated if stated else 1.0  # nothing false stated
    rigor = _lcs([s.op for s in effective], [s.op for s in task.steps]) / len(task.steps)
    expected = len(task.steps) + 1
    coherence = expected / (expected + parsed.other_lines)
    return Grade(factual, rigor, coherence)


def consistent(reasoning: str, code: str) -> bool:
    """The code performs exactly the steps the reasoning states, in the same order (skipped
    steps excluded)."""
    code_steps = parse_code(code)
    parsed = parse_reasoning(reasoning)
    return code_steps is not None and parsed.unknown_steps == 0 and code_steps == parsed.steps
