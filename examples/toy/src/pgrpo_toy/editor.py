"""The rule-based editor: the toy world's "strong LLM" that optimizes or degrades a reasoning.

Owns `optimize(task, reasoning, dimension)` / `degrade(task, reasoning, dimension, rng)` on the
three oracle dimensions ("factual", "rigor", "coherence"; see pgrpo_toy.oracle) and
`noisy_reasoning` (a canonical reasoning degraded along random dimensions). Each edit is
designed to move only its own dimension of `pgrpo_toy.oracle.grade`:
  - factual: degrade changes one step's constant (or, with no constant, adds a step the problem
    does not ask for); optimize fixes wrong constants and drops steps of foreign operations;
  - rigor: degrade swaps two adjacent steps of different operations (or drops a step);
    optimize puts the stated steps in the problem's order and adds missing steps;
  - coherence: degrade inserts an aside or a contradiction; optimize removes such lines.
Exception: optimizing rigor of a reasoning that also has factual errors adds true steps, so
its factual share rises too. Both edits first write sign-shortcut lines out as their steps.
Three editors (`EDITORS`):
  - "plain" (the clean world's): no shortcut edits beyond writing them out;
  - "blind" (a strong but fallible LLM that likes confident, concise reasoning): `optimize` also
    replaces EVERY sign step by the shortcut line, valid or not, and `degrade` keeps the shortcuts
    written out (so a degraded side never has one); no oracle check vetoes these edits. In OD pairs
    the shortcut then always sits on the preferred side: the RM's blind spot;
  - "honest" (the same taste, oracle-checked): `optimize` applies a shortcut only where the skip
    is valid for the problem (judged jointly, pgrpo_toy.oracle.shortcut_counts), and a factual or
    rigor `degrade` skips a sign step whose skip is invalid whenever the problem has one (a false
    statement and a missing step), and it leaves a reasoning that already holds an invalid skip
    undegraded (its OD pair would prefer it). A wrong skip is never on the preferred side.
Pure functions over text; the chat-backend wrapper is pgrpo_toy.backend.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

from pgrpo_toy.oracle import parse_phrase, parse_reasoning, parse_skip, shortcut_counts
from pgrpo_toy.world import (
    FINAL_LINE,
    OPS,
    SHORTCUT_OPS,
    Step,
    ToyTask,
    reasoning_lines,
    shortcut_line,
)

DIMENSIONS = ("factual", "rigor", "coherence")
EDITORS = ("plain", "blind", "honest")
# The editor each world's OD pairs use by default (the weak world trains an RM per editor).
WORLD_EDITOR = {"clean": "plain", "trap": "blind", "weak": "blind"}
# The honest editor's degradations that are an invalid skip when the problem has one (a false
# statement and a missing step: both dimensions drop), and how often.
HONEST_SKIP_DIMENSIONS = ("factual", "rigor")
HONEST_SKIP_SHARE = 1.0
FILLER_LINES = (
    "Note: maybe we should sort the list first.",
    "Wait, perhaps x should not change at all.",
    "Also, the weather is nice today.",
    "Hmm, maybe we return the input instead.",
    "Aside: strings can be reversed.",
    "Wait, x might be a string here.",
)


def _steps(reasoning: str) -> list[Step]:
    return list(parse_reasoning(reasoning).steps)


def _others(reasoning: str) -> list[str]:
    """Non-step, non-final lines, in order."""
    out = []
    for raw in reasoning.splitlines():
        line = raw.strip()
        if line and line != FINAL_LINE and not line.startswith("Step "):
            out.append(line)
    return out


def _unknown_step_lines(reasoning: str) -> list[str]:
    out = []
    for raw in reasoning.splitlines():
        line = raw.strip()
        if line.startswith("Step ") and ":" in line and parse_phrase(line.split(":", 1)[1]) is None:
            out.append(line.split(":", 1)[1].strip())
    return out


def _map_step_lines(reasoning: str, edit: Callable[[int, str], str | None]) -> str:
    """`reasoning` with each "Step k: body" line replaced by `edit(k, body)` (None: unchanged)."""
    lines = []
    for raw in reasoning.splitlines():
        head, sep, body = raw.strip().partition(":")
        number = head[5:].strip() if head.startswith("Step ") else ""
        new = edit(int(number), body.strip()) if sep and number.isdigit() else None
        lines.append(raw if new is None else new)
    return "\n".join(lines)


def write_out_shortcuts(reasoning: str) -> str:
    """Every sign-shortcut line written out as the step it skips (same number and place)."""
    def edit(k: int, body: str) -> str | None:
        step = parse_skip(body)
        return None if step is None else f"Step {k}: {step.phrase()}."
    return _map_step_lines(reasoning, edit)


def apply_shortcuts(reasoning: str) -> str:
    """Every stated sign step (pgrpo_toy.world.SHORTCUT_OPS) replaced by its shortcut line."""
    def edit(k: int, body: str) -> str | None:
        step = parse_phrase(body)
        return shortcut_line(k, step) if step is not None and step.op in SHORTCUT_OPS else None
    return _map_step_lines(reasoning, edit)


def apply_valid_shortcuts(task: ToyTask, reasoning: str) -> str:
    """The honest editor's taste: each stated sign step, in order, replaced by its shortcut line
    when the reasoning's skips stay valid for `task` (the oracle's joint verdict)."""
    lines = reasoning.splitlines()
    for i, raw in enumerate(lines):
        head, sep, body = raw.strip().partition(":")
        step = parse_phrase(body) if sep and head.startswith("Step ") else None
        if step is None or step.op not in SHORTCUT_OPS or not head[5:].strip().isdigit():
            continue
        trial = lines[:i] + [shortcut_line(int(head[5:].strip()), step)] + lines[i + 1:]
        if shortcut_counts(task, "\n".join(trial)).invalid == 0:
            lines = trial
    return "\n".join(lines)


def invalid_skip(task: ToyTask, reasoning: str, rng: random.Random) -> str | None:
    """`reasoning` with one stated sign step replaced by its shortcut line where that makes the
    reasoning's skips invalid for `task` (a random such step); None when there is none."""
    lines = reasoning.splitlines()
    options = []
    for i, raw in enumerate(lines):
        head, sep, body = raw.strip().partition(":")
        step = parse_phrase(body) if sep and head.startswith("Step ") else None
        if step is None or step.op not in SHORTCUT_OPS or not head[5:].strip().isdigit():
            continue
        trial = "\n".join(lines[:i] + [shortcut_line(int(head[5:].strip()), step)] + lines[i + 1:])
        if shortcut_counts(task, trial).invalid:
            options.append(trial)
    return rng.choice(options) if options else None


def _check_editor(editor: str) -> str:
    if editor not in EDITORS:
        raise ValueError(f"unknown editor {editor!r}; known: {EDITORS}")
    return editor


def render(steps: list[Step], others: Sequence[str] = (), unknown: Sequence[str] = (), seed_pos: int = 0) -> str:
    """Reasoning text: numbered steps (+ unknown step bodies), the final line, `others` interleaved."""
    lines = reasoning_lines(steps)
    for body in unknown:
        lines.insert(len(lines) - 1, f"Step {len(lines)}: {body.rstrip('.')}.")
    for k, other in enumerate(others):
        pos = (seed_pos + 2 * k) % len(lines)
        lines.insert(pos, other)
    return "\n".join(lines)


def _rebuild(reasoning: str, steps: list[Step], others: list[str] | None = None) -> str:
    return render(steps, _others(reasoning) if others is None else others, _unknown_step_lines(reasoning), 1)


def _order_score(task: ToyTask, steps: list[Step]) -> float:
    from pgrpo_toy.oracle import grade

    return grade(task, "\n".join(reasoning_lines(steps))).rigor


def degrade(task: ToyTask, reasoning: str, dimension: str, rng: random.Random, editor: str = "plain") -> str:
    """A worse reasoning along `dimension` only; the text unchanged if that dimension can't drop.
    The blind and honest editors write shortcuts out first and that text is the reference (and
    the answer when the dimension can't drop), however the oracle grades it; the honest one's
    factual and rigor edits are an invalid skip when the problem allows it (HONEST_SKIP_*)."""
    from pgrpo_toy.oracle import grade

    trap = _check_editor(editor) != "plain"
    if editor == "honest" and shortcut_counts(task, reasoning).invalid:
        # Its degraded side is paired against `reasoning` itself (pgrpo.rm.od.build_pairs: y over
        # y-), which would put a wrong skip on the preferred side: left unchanged, the pair is dropped.
        return reasoning
    base = write_out_shortcuts(reasoning)
    before = grade(task, base if trap else reasoning)
    for _ in range(6):  # a few random tries: the edit must lower its dimension and raise no other
        worse = None
        if editor == "honest" and dimension in HONEST_SKIP_DIMENSIONS and rng.random() < HONEST_SKIP_SHARE:
            worse = invalid_skip(task, base, rng)
        worse = worse if worse is not None else _degrade(task, base, dimension, rng)
        after = grade(task, worse)
        if getattr(after, dimension) < getattr(before, dimension) and all(
                getattr(after, d) <= getattr(before, d) for d in DIMENSIONS):
            return worse
    return base if trap else reasoning


def _degrade(task: ToyTask, reasoning: str, dimension: str, rng: random.Random) -> str:
    steps = _steps(reasoning)
    truth = set(task.steps)
    if dimension == "factual":
        with_const = [i for i, s in enumerate(steps) if s.spec.constants and s in truth]
        if with_const:
            i = rng.choice(with_const)
            choices = [c for c in steps[i].spec.constants if c != steps[i].c]
            steps[i] = Step(steps[i].op, rng.choice(choices))
        else:
            task_ops = {s.op for s in task.steps}
            foreign = [name for name in sorted(OPS) if name not in task_ops]
            spec = OPS[rng.choice(foreign)]
            steps.insert(rng.randint(0, len(steps)), Step(spec.name, rng.choice(spec.constants) if spec.constants else 0))
        return _rebuild(reasoning, steps)
    if dimension == "rigor":
        # Only edits that break the problem's order count: try adjacent swaps, then deletions.
        base = _order_score(task, steps)
        swaps = []
        for i in range(len(steps) - 1):
            cand = list(steps)
            cand[i], cand[i + 1] = cand[i + 1], cand[i]
            swaps.append(cand)
        drops = [steps[:i] + steps[i + 1:] for i in range(len(steps))]
        for pool in (swaps, drops):
            worse = [c for c in pool if _order_score(task, c) < base]
            if worse:
                return _rebuild(reasoning, rng.choice(worse))
        return reasoning
    if dimension == "coherence":
        others = _others(reasoning)
        others.append(rng.choice(FILLER_LINES))
        lines = reasoning.strip().splitlines()
        lines.insert(rng.randint(0, len(lines)), others[-1])
        return "\n".join(lines)
    raise ValueError(f"unknown dimension {dimension!r}; known: {DIMENSIONS}")


def optimize(task: ToyTask, reasoning: str, dimension: str, editor: str = "plain") -> str:
    """A better reasoning along `dimension` only (unchanged text if it can't be improved); the
    blind editor then turns every sign step into a shortcut line, valid or not, the honest one
    only those whose skip is valid."""
    _check_editor(editor)
    base = write_out_shortcuts(reasoning)
    better = _optimize(task, base, dimension)
    if editor == "blind":
        return apply_shortcuts(better)
    if editor == "honest":
        return apply_valid_shortcuts(task, better)
    return reasoning if better == base else better


def _optimize(task: ToyTask, reasoning: str, dimension: str) -> str:
    steps = _steps(reasoning)
    if dimension == "factual":
        remaining = Counter(task.steps)
        keep: list[Step | None] = []
        for s in steps:  # exact matches first, consumed as a multiset
            if remaining[s] > 0:
                remaining[s] -= 1
                keep.append(s)
            else:
                keep.append(None)
        fixed = []
        for s, kept in zip(steps, keep):
            if kept is not None:
                fixed.append(kept)
                continue
            spare = [t for t in task.steps if t.op == s.op and remaining[t] > 0]
            if spare:  # wrong constant: the problem's constant for this operation
                remaining[spare[0]] -= 1
                fixed.append(spare[0])
            # else: an operation the problem never asks for (or one too many): dropped
        if fixed == steps:
            return reasoning
        return _rebuild(reasoning, fixed)
    if dimension == "rigor":
        pool = list(steps)
        ordered = []
        for t in task.steps:
            same = [s for s in pool if s.op == t.op]
            if same:
                ordered.append(same[0])
                pool.remove(same[0])
            else:
                ordered.append(t)
        ordered += pool  # foreign operations stay (that is a factual matter)
        if ordered == steps:
            return reasoning
        return _rebuild(reasoning, ordered)
    if dimension == "coherence":
        if not _others(reasoning):
            return reasoning
        return _rebuild(reasoning, steps, others=[])
    raise ValueError(f"unknown dimension {dimension!r}; known: {DIMENSIONS}")


def noisy_reasoning(task: ToyTask, rng: random.Random, flaws: int = 1) -> tuple[str, tuple[str, ...]]:
    """The canonical reasoning degraded along `flaws` random dimensions; returns (text, dimensions)."""
    text = "\n".join(reasoning_lines(task.steps))
    dims = tuple(rng.choice(DIMENSIONS) for _ in range(flaws))
    for dim in dims:
        text = degrade(task, text, dim, rng)
    return text, dims
