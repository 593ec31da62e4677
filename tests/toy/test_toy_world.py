"""The toy world: deterministic generation, valid tests, exact oracle, one-dimension editor."""

from __future__ import annotations

import random

import pytest

from pgrpo.toy import editor
from pgrpo.toy.oracle import consistent, grade, parse_code, parse_reasoning, task_from_statement
from pgrpo.toy.world import (
    canonical_code,
    canonical_reasoning,
    generate_problems,
    generate_tasks,
    response,
    statement,
    task_of,
)

DIMS = ("factual", "rigor", "coherence")


def test_generation_is_deterministic_and_distinct():
    a = generate_tasks(50, seed=3)
    b = generate_tasks(50, seed=3)
    c = generate_tasks(50, seed=4)
    assert a == b
    assert [t.steps for t in a] != [t.steps for t in c]
    assert len({t.steps for t in a}) == 50
    assert all(1 <= len(t.steps) <= 3 for t in a)


def test_problem_round_trip_and_texts():
    problem = generate_problems(1, seed=0)[0]
    task = task_of(problem)
    assert problem.entry_point == "f" and problem.tests.kind.value == "call"
    assert task_from_statement(problem.statement).steps == task.steps
    assert canonical_reasoning(task).startswith("Step 1: ")
    assert parse_code(canonical_code(task)) == task.steps
    assert [c.output for c in problem.tests.call_cases] == [task.run(c.inputs[0]) for c in problem.tests.call_cases]


def test_canonical_code_passes_and_wrong_code_fails_in_the_sandbox():
    from pgrpo.sandbox import Job, Sandbox, SandboxConfig

    problems = generate_problems(6, seed=1)
    wrong = "def f(x):\n    return x + 1000\n"
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        results = sandbox.run([Job(p, p.canonical_solution) for p in problems] + [Job(problems[0], wrong)])
    assert [r.passed for r in results] == [True] * 6 + [False]


@pytest.mark.parametrize("seed", range(3))
def test_oracle_canonical_is_perfect_and_each_degrade_lowers_only_its_dimension(seed):
    rng = random.Random(seed)
    for task in generate_tasks(40, seed=seed):
        reasoning = canonical_reasoning(task)
        assert grade(task, reasoning).perfect
        for dim in DIMS:
            worse = grade(task, editor.degrade(task, reasoning, dim, rng))
            scores = {"factual": worse.factual, "rigor": worse.rigor, "coherence": worse.coherence}
            assert scores[dim] < 1.0, (dim, task.steps)
            assert all(v == 1.0 for d, v in scores.items() if d != dim), (dim, task.steps, scores)


def test_oracle_specific_flaws():
    task = task_from_statement("Write a function f(x) for an integer x. Step 1: multiply x by 3. Step 2: subtract 4 "
                               "from x. Step 3: take the absolute value of x. Return x.")
    g = grade(task, "Step 1: multiply x by 5.\nStep 2: subtract 4 from x.\nStep 3: take the absolute value of x.")
    assert g.factual == pytest.approx(2 / 3) and g.rigor == 1.0 and g.coherence == 1.0
    g = grade(task, "Step 1: subtract 4 from x.\nStep 2: multiply x by 3.\nStep 3: take the absolute value of x.")
    assert g.factual == 1.0 and g.rigor == pytest.approx(2 / 3)
    g = grade(task, "Step 1: multiply x by 3.\nWait, x might be a string here.\nStep 2: subtract 4 from x.\n"
                    "Step 3: take the absolute value of x.\nFinally, return x.")
    assert g.factual == g.rigor == 1.0 and g.coherence < 1.0
    assert grade(task, "") == grade(task, "   ")
    assert grade(task, "").quality == 0.0


@pytest.mark.parametrize("dim", DIMS)
def test_editor_optimize_repairs_its_dimension_only(dim):
    rng = random.Random(7)
    for task in generate_tasks(30, seed=9):
        flawed = editor.degrade(task, canonical_reasoning(task), dim, rng)
        before = grade(task, flawed)
        repaired = grade(task, editor.optimize(task, flawed, dim))
        assert repaired.perfect, (dim, task.steps, flawed)
        for other in DIMS:
            if other != dim:
                assert getattr(repaired, other) == getattr(before, other)
        # nothing to improve: the text comes back unchanged
        assert editor.optimize(task, canonical_reasoning(task), dim) == canonical_reasoning(task)


def test_consistency_judge():
    task = generate_tasks(1, seed=2)[0]
    reasoning = canonical_reasoning(task)
    assert consistent(reasoning, canonical_code(task))
    assert not consistent(reasoning, "def f(x):\n    return x\n")
    assert not consistent(reasoning, "print('hi')")
    swapped = editor.degrade(task, reasoning, "factual", random.Random(0))
    assert not consistent(swapped, canonical_code(task))
    assert parse_reasoning(response(reasoning, canonical_code(task))).steps == task.steps


def test_statement_text_is_small_vocabulary():
    words = {w for t in generate_tasks(200, seed=5) for w in statement(t).replace(",", " ").replace(".", " ").split()}
    assert len(words) < 60
