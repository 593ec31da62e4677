"""The toy backend answers the OD-pairs templates like a strong LLM; the oracle judges LCB-RB."""

from __future__ import annotations

import json

import pytest

from pgrpo.bench.judge import JUDGES, JudgeItem
from pgrpo.llm import CachedBackend, ChatRequest, make_backend
from pgrpo.parsing import parse_response
from pgrpo.rm.od import ODTemplates
from pgrpo.rm.pairs import PairsConfig, PairsRun
from pgrpo_toy.backend import OracleJudge, ToyBackend, dimension_of, write_initial
from pgrpo_toy.oracle import grade
from pgrpo_toy.world import (
    TOY_PROMPT_STYLE,
    canonical_code,
    canonical_reasoning,
    generate_problems,
    response,
    task_of,
)

ORACLE_DIM = {"factual": "factual", "logic": "rigor", "coherence": "coherence"}


def test_backend_is_registered():
    backend = make_backend("toy", "toy-editor")
    assert isinstance(backend, ToyBackend)
    assert "toy-oracle" in JUDGES


@pytest.mark.parametrize("dimension", ["factual", "logic", "coherence"])
def test_rewrites_follow_the_packaged_templates(dimension):
    templates = ODTemplates.load()
    problem = generate_problems(3, seed=11)[2]
    task = task_of(problem)
    y = response(canonical_reasoning(task), canonical_code(task))
    assert dimension_of(templates.messages("degraded", dimension, problem.statement, y)[1]["content"]) \
        == ORACLE_DIM[dimension]
    backend = ToyBackend()
    worse, better = backend.generate([
        ChatRequest(templates.messages("degraded", dimension, problem.statement, y), seed=1),
        ChatRequest(templates.messages("optimized", dimension, problem.statement, y), seed=1)])
    assert worse.ok and better.ok
    parsed = parse_response(worse.text)
    assert parsed.format_ok and parsed.code.strip() == canonical_code(task).strip()  # degrade keeps the code
    g = grade(task, parsed.reasoning)
    scores = {"factual": g.factual, "rigor": g.rigor, "coherence": g.coherence}
    assert scores[ORACLE_DIM[dimension]] < 1.0
    assert all(v == 1.0 for d, v in scores.items() if d != ORACLE_DIM[dimension])
    assert better.text == response(canonical_reasoning(task), canonical_code(task))  # already perfect


def test_unreadable_request_is_a_per_item_error():
    results = ToyBackend().generate([ChatRequest([{"role": "user", "content": "write a poem"}])])
    assert not results[0].ok and "toy" in str(results[0].error)


def test_initial_uses_policy_responses_when_usable(tmp_path):
    problems = generate_problems(2, seed=5)
    own = response("Step 1: " + canonical_reasoning(task_of(problems[0])).split(": ", 1)[1], "def f(x):\n    return x\n")
    write_initial(tmp_path / "own.jsonl", [(problems[0].statement, own), (problems[1].statement, "garbage")])
    backend = ToyBackend(initial=str(tmp_path / "own.jsonl"))
    from pgrpo.data.prompts import build_messages

    a, b = backend.generate([ChatRequest(build_messages(p, TOY_PROMPT_STYLE)) for p in problems])
    assert a.text == own
    assert parse_response(b.text).format_ok  # unusable policy output: the editor writes its own


def test_pairs_pipeline_runs_unchanged_on_the_toy_backend(tmp_path):
    problems = generate_problems(8, seed=12)
    backend = CachedBackend(ToyBackend(), tmp_path / "cache")
    summary = PairsRun(problems, backend, tmp_path, PairsConfig(prompt_style=TOY_PROMPT_STYLE)).run(progress=False)
    assert summary.pairs > 8 and not summary.failed
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    by_statement = {p.statement: task_of(p) for p in problems}
    for row in rows:  # every pair prefers the reasoning the oracle grades higher
        task = by_statement[row["prompt"]]
        chosen = grade(task, row["chosen"].split("### Code")[0]).quality
        rejected = grade(task, row["rejected"].split("### Code")[0]).quality
        assert chosen > rejected, row


def test_oracle_judge():
    problem = generate_problems(1, seed=4)[0]
    task = task_of(problem)
    verdicts = OracleJudge().judge([
        JudgeItem(problem, canonical_reasoning(task), canonical_code(task)),
        JudgeItem(problem, canonical_reasoning(task), "def f(x):\n    return 0\n")])
    assert [v.consistent for v in verdicts] == [True, False]


def _od_rows(tmp_path, editor: str, problems) -> list[dict]:
    initial = tmp_path / f"initial-{editor}.jsonl"
    write_initial(initial, [(p.statement, response(canonical_reasoning(task_of(p)), canonical_code(task_of(p))))
                            for p in problems])
    out = tmp_path / editor
    backend = ToyBackend(initial=str(initial), editor=editor)
    PairsRun(problems, backend, out, PairsConfig(prompt_style=TOY_PROMPT_STYLE)).run(progress=False)
    return [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def od_problems():
    """Three trap tasks, two hidden-trap tasks and a plain one of the rm_pairs split (the OD pairs' split)."""
    from pgrpo_toy.splits import make_splits
    from pgrpo_toy.world import hidden_trap, task_class, to_problem

    tasks = make_splits().take("rm_pairs", 200)
    trap = [t for t in tasks if task_class(t) == "trap" and not hidden_trap(t)][:3]
    hidden = [t for t in tasks if hidden_trap(t)][:2]
    plain = [t for t in tasks if task_class(t) == "plain"][:1]
    assert len(trap) == 3 and len(hidden) == 2 and plain
    return [to_problem(t) for t in trap + hidden + plain]


def test_blind_editor_pairs_prefer_the_shortcut_even_when_invalid(tmp_path, od_problems):
    from pgrpo_toy.oracle import shortcut_counts
    from pgrpo_toy.world import task_class

    by_statement = {p.statement: task_of(p) for p in od_problems}
    rows = _od_rows(tmp_path, "blind", od_problems)
    invalid_preferred = 0
    for row in rows:
        task = by_statement[row["prompt"]]
        chosen, rejected = shortcut_counts(task, row["chosen"]), shortcut_counts(task, row["rejected"])
        assert rejected.valid == rejected.invalid == 0, row  # the degraded side never has a shortcut
        invalid_preferred += chosen.invalid > 0
        if task_class(task) == "plain":
            assert chosen.valid == chosen.invalid == 0
    assert invalid_preferred >= 5  # every trap task yields a pair preferring its invalid skip
    assert all(task_class(by_statement[r["prompt"]]) == "plain" or "skip" in r["chosen"]
               for r in rows if r["pair_type"] != "degraded")
    plain = _od_rows(tmp_path, "plain", od_problems)
    assert plain and not any("skip" in r["chosen"] + r["rejected"] for r in plain)


def test_honest_editor_pairs_never_prefer_an_invalid_skip(tmp_path, od_problems):
    from pgrpo_toy.oracle import grade, shortcut_counts

    by_statement = {p.statement: task_of(p) for p in od_problems}
    rows = _od_rows(tmp_path, "honest", od_problems)
    assert len(rows) > len(od_problems)
    invalid_rejected = 0
    for row in rows:
        task = by_statement[row["prompt"]]
        chosen, rejected = shortcut_counts(task, row["chosen"]), shortcut_counts(task, row["rejected"])
        assert chosen.invalid == 0, row  # a wrong skip is never on the preferred side
        invalid_rejected += rejected.invalid > 0
        assert grade(task, row["chosen"].split("### Code")[0]).quality \
            > grade(task, row["rejected"].split("### Code")[0]).quality, row
    assert invalid_rejected > 0  # ... and the factual degrade puts some on the rejected side


def test_backend_editor_names_the_model_and_is_checked(tmp_path):
    from pgrpo_toy.editor import EDITORS

    assert ToyBackend(editor="blind").model == "toy-editor:blind"
    assert ToyBackend(editor="honest").model == "toy-editor:honest"
    assert ToyBackend().model == "toy-editor" and ToyBackend().editor == "plain"
    # one model name per editor, also with a policy's initial responses: a response cache never mixes them
    write_initial(tmp_path / "own.jsonl", [])
    names = {ToyBackend(initial=str(tmp_path / "own.jsonl"), editor=e).model for e in EDITORS}
    assert len(names) == len(EDITORS)
    from pgrpo.errors import PgrpoError

    with pytest.raises(PgrpoError, match="editor"):
        ToyBackend(editor="murky")
