"""The toy code world: procedurally generated function problems whose reasoning can be checked exactly.

Owns the operation vocabulary (`OPS`, each with its statement/reasoning phrase and code line),
`ToyTask` (the ops of one problem), `generate_tasks` / `generate_problems` (seeded, deterministic)
and the canonical texts: statement, step-by-step reasoning ("Step 1: multiply x by 3."), code,
and the full P-GRPO response. Problems are `pgrpo.data.Problem`s (kind "call", entry point `f`),
so the sandbox, rewards and evaluation treat them like any other problem set. The text
vocabulary is deliberately small so a tiny BPE model can learn it. Pure functions, no I/O.

Also the three worlds (`WORLDS`): "clean", "trap" and "weak", which share tasks and differ in
the SFT demonstrations, the OD editors (pgrpo_toy.sft, pgrpo_toy.editor) and the tests training
sees. The trap is the sign shortcut: a reasoning may replace a sign step (`SHORTCUT_OPS`) by
`shortcut_line`, and its code then omits the step. `skip_is_valid` says when that is right (the
program without the step returns the same value on `SHORTCUT_CHECK_RANGE`); `task_class` sorts
tasks into "trap" (some sign step's skip is wrong), "safe" (every sign step's skip is right) and
"plain" (no sign step). In the "weak" world training problems carry only the weak tests
(`WEAK_TEST_INPUTS`, a few positive inputs, as HumanEval's tests are weaker than HumanEval+'s),
under which some invalid skips pass: `hidden_trap` marks the tasks where that happens. Evaluation
always uses the strong tests (`TEST_INPUTS`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pgrpo.data import CallCase, Problem, TestKind, Tests, prompt_style
from pgrpo.parsing import format_response

ENTRY_POINT = "f"
TEST_INPUTS = (-9, -4, -1, 0, 2, 5, 7, 12)  # the strong tests: evaluation, and training outside "weak"
# The weak tests (training in the "weak" world): positive inputs only, so an invalid sign skip whose
# sign only matters for negative values passes them (489 of the 4866 2-3-step tasks, `hidden_trap`).
WEAK_TEST_INPUTS = (2, 5, 7, 12)
TestStrength = Literal["strong", "weak"]
FINAL_LINE = "Finally, return x."
WORLDS = ("clean", "trap", "weak")
SHORTCUT_OPS = ("neg", "abs")
SHORTCUT_CHECK_RANGE = range(-60, 61)
SHORTCUT_TEMPLATE = "skip {phrase}, the sign does not matter"
TaskClass = Literal["trap", "safe", "plain"]
TASK_CLASSES: tuple[TaskClass, ...] = ("trap", "safe", "plain")


@dataclass(frozen=True)
class OpSpec:
    """One operation: `phrase` / `code` are format strings with `{c}` for the constant (if any)."""

    name: str
    phrase: str
    code: str
    apply: Callable[[int, int], int]
    constants: tuple[int, ...] = ()


OPS: dict[str, OpSpec] = {op.name: op for op in (
    OpSpec("add", "add {c} to x", "x = x + {c}", lambda x, c: x + c, tuple(range(1, 5))),
    OpSpec("sub", "subtract {c} from x", "x = x - {c}", lambda x, c: x - c, tuple(range(1, 5))),
    OpSpec("mul", "multiply x by {c}", "x = x * {c}", lambda x, c: x * c, tuple(range(2, 6))),
    OpSpec("mod", "take x modulo {c}", "x = x % {c}", lambda x, c: x % c, tuple(range(2, 6))),
    OpSpec("abs", "take the absolute value of x", "x = abs(x)", lambda x, c: abs(x)),
    OpSpec("neg", "negate x", "x = -x", lambda x, c: -x),
    OpSpec("square", "square x", "x = x * x", lambda x, c: x * x),
)}


@dataclass(frozen=True)
class Step:
    """One operation with its constant (0 for ops without one)."""

    op: str
    c: int = 0

    @property
    def spec(self) -> OpSpec:
        return OPS[self.op]

    def phrase(self) -> str:
        return self.spec.phrase.format(c=self.c)

    def code(self) -> str:
        return self.spec.code.format(c=self.c)

    def apply(self, x: int) -> int:
        return self.spec.apply(x, self.c)


@dataclass(frozen=True)
class ToyTask:
    """A toy problem: `steps` applied to x in order, then x is returned."""

    task_id: str
    steps: tuple[Step, ...]

    def run(self, x: int) -> int:
        return run_steps(self.steps, x)


def all_steps() -> list[Step]:
    """Every step of the vocabulary (op, then constant), in a fixed order."""
    return [Step(spec.name, c) for spec in OPS.values() for c in (spec.constants or (0,))]


def random_step(rng: random.Random, exclude: Step | None = None) -> Step:
    """A uniformly drawn step (op, then constant), different from `exclude`."""
    while True:
        spec = OPS[rng.choice(sorted(OPS))]
        step = Step(spec.name, rng.choice(spec.constants) if spec.constants else 0)
        if step != exclude:
            return step


def steps_ok(steps: tuple[Step, ...]) -> bool:
    # No immediate repeat of an op type (keeps reasoning edits unambiguous) and no no-op pairs.
    return all(a.op != b.op for a, b in zip(steps, steps[1:]))


def generate_tasks(n: int, seed: int, min_steps: int = 1, max_steps: int = 3, prefix: str = "toy") -> list[ToyTask]:
    """`n` distinct tasks from `seed` (deterministic); ids `{prefix}/{seed}/{i}`."""
    rng = random.Random(f"toy-world:{seed}")
    tasks: list[ToyTask] = []
    seen: set[tuple[Step, ...]] = set()
    misses = 0
    while len(tasks) < n:
        if misses > 100_000:  # the task space (~6500 tasks of <= 3 steps) is smaller than n
            raise ValueError(f"generate_tasks: cannot draw {n} distinct toy tasks (got {len(tasks)})")
        k = rng.randint(min_steps, max_steps)
        steps = tuple(random_step(rng) for _ in range(k))
        if steps in seen or not steps_ok(steps):
            misses += 1
            continue
        misses = 0
        seen.add(steps)
        tasks.append(ToyTask(f"{prefix}/{seed}/{len(tasks)}", steps))
    return tasks


def statement(task: ToyTask) -> str:
    # Numbered steps: a canonical reasoning line copies its statement line (the "Step k:"
    # prefix points at it), which a 2-layer model learns; matching the k-th clause of one
    # comma-separated sentence it did not (see docs/demo.md).
    ops = " ".join(f"Step {i}: {s.phrase()}." for i, s in enumerate(task.steps, 1))
    return f"Write a function f(x) for an integer x. {ops} Return x."


def shortcut_line(k: int, step: Step) -> str:
    """Line k of a reasoning that skips `step` ("Step 2: skip negate x, the sign does not matter.")."""
    return f"Step {k}: {SHORTCUT_TEMPLATE.format(phrase=step.phrase())}."


def reasoning_lines(steps: tuple[Step, ...] | list[Step], skipped: frozenset[int] | set[int] = frozenset()) -> list[str]:
    """Numbered step lines (the 0-based positions in `skipped` as shortcut lines), then the final line."""
    return [shortcut_line(i, s) if i - 1 in skipped else f"Step {i}: {s.phrase()}."
            for i, s in enumerate(steps, 1)] + [FINAL_LINE]


def run_steps(steps: tuple[Step, ...] | list[Step], x: int) -> int:
    for step in steps:
        x = step.apply(x)
    return x


def skip_is_valid(steps: tuple[Step, ...] | list[Step], index: int) -> bool:
    """Whether the program without `steps[index]` returns the same value for every x in
    SHORTCUT_CHECK_RANGE (e.g. negate then square: yes; negate then take x modulo 3: no)."""
    if not 0 <= index < len(steps):
        raise IndexError(f"skip_is_valid: step index {index} out of range for {len(steps)} steps")
    return skips_are_valid(steps, {index})


def skips_are_valid(steps: tuple[Step, ...] | list[Step], indexes: set[int] | frozenset[int]) -> bool:
    """Whether the program without ALL of `steps[i]` for i in `indexes` returns the same value for
    every x in SHORTCUT_CHECK_RANGE (one reasoning may skip several sign steps: judged jointly)."""
    rest = [s for i, s in enumerate(steps) if i not in indexes]
    return all(run_steps(steps, x) == run_steps(rest, x) for x in SHORTCUT_CHECK_RANGE)


def sign_steps(steps: tuple[Step, ...] | list[Step]) -> list[int]:
    """Positions of the steps the sign shortcut applies to."""
    return [i for i, s in enumerate(steps) if s.op in SHORTCUT_OPS]


def task_class(task: ToyTask) -> TaskClass:
    """"trap": some sign step's skip is invalid; "safe": every sign step's skip is valid;
    "plain": no sign step."""
    signs = sign_steps(task.steps)
    if not signs:
        return "plain"
    return "safe" if all(skip_is_valid(task.steps, i) for i in signs) else "trap"


def hidden_trap(task: ToyTask) -> bool:
    """Whether some sign step's skip fails the strong tests yet passes the weak ones: the tasks
    where weak-test training cannot see the sign shortcut's error and evaluation can. (A skip
    that is invalid on SHORTCUT_CHECK_RANGE but passes the strong tests too does not count.)"""
    for i in sign_steps(task.steps):
        rest = [s for j, s in enumerate(task.steps) if j != i]
        if all(task.run(x) == run_steps(rest, x) for x in WEAK_TEST_INPUTS) and \
                any(task.run(x) != run_steps(rest, x) for x in TEST_INPUTS):
            return True
    return False


def canonical_reasoning(task: ToyTask) -> str:
    return "\n".join(reasoning_lines(task.steps))


def code_for(steps: tuple[Step, ...] | list[Step]) -> str:
    body = [f"    {s.code()}" for s in steps] + ["    return x"]
    return "def f(x):\n" + "\n".join(body) + "\n"


def canonical_code(task: ToyTask) -> str:
    return code_for(task.steps)


def response(reasoning: str, code: str) -> str:
    """A full P-GRPO response (the format `pgrpo.parsing.parse_response` accepts)."""
    return format_response(reasoning, code)


def to_problem(task: ToyTask, tests: TestStrength = "strong") -> Problem:
    """The task as a Problem with the strong tests (evaluation) or the weak ones (weak-world training);
    `metadata.toy_tests` says which."""
    if tests not in ("strong", "weak"):
        raise ValueError(f"to_problem: tests must be 'strong' or 'weak', got {tests!r}")
    inputs = WEAK_TEST_INPUTS if tests == "weak" else TEST_INPUTS
    cases = tuple(CallCase((x,), task.run(x)) for x in inputs)
    return Problem(
        task_id=task.task_id,
        statement=statement(task),
        tests=Tests(kind=TestKind.CALL, call_cases=cases),
        entry_point=ENTRY_POINT,
        source="toy",
        canonical_solution=canonical_code(task),
        metadata={"toy_steps": [[s.op, s.c] for s in task.steps], "toy_tests": tests,
                  "canonical_reasoning": canonical_reasoning(task)},
    )


def task_of(problem: Problem) -> ToyTask:
    """The ToyTask a toy Problem was made from (from its metadata)."""
    steps = problem.metadata.get("toy_steps")
    if steps is None:
        raise ValueError(f"{problem.task_id}: not a toy problem (no metadata.toy_steps)")
    return ToyTask(problem.task_id, tuple(Step(str(op), int(c)) for op, c in steps))


def generate_problems(n: int, seed: int, **kwargs: Any) -> list[Problem]:
    return [to_problem(t) for t in generate_tasks(n, seed, **kwargs)]


TOY_PROMPT_STYLE = "toy"


@prompt_style(TOY_PROMPT_STYLE, None)
def _toy_user(problem: Problem) -> str:
    # A short prompt keeps tiny-model sequences short on CPU; same response format as "pgrpo".
    return f"{problem.statement}\nThink in <think></think>, then code in <answer></answer>."
