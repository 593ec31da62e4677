"""`pgrpo rm pairs`: OD pairs end to end over HTTP (scripted server with faults, then `pgrpo serve`
on the tiny model with a kill and a resume), validation rules, templates, code execution."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from doubles import FaultInjectingServer, FunctionBackend, kill_after_first_record
from pgrpo.config import ConfigError
from pgrpo.data.loaders import load_problems, problem_to_dict
from pgrpo.llm import CachedBackend, make_backend
from pgrpo.rm.data import load_pairs
from pgrpo.rm.manifest import PAIRS_SPEC_FILE, PairsSpec
from pgrpo.rm.od import ODTemplates, build_pairs, check_variant
from pgrpo.rm.pairs import PairsConfig, PairsRun
from pgrpo.verify import Verdict

CLI = [sys.executable, "-c", "import sys; from pgrpo.cli import main; sys.exit(main())"]
GOOD = "<think>\nAdd the two numbers.\n</think>\n<answer>\n```python\ndef f(a, b):\n    return a + b\n```\n</answer>"
MARK = {"Factual accuracy": "factual", "Logical rigor": "logic", "Coherence:": "coherence"}


def od_responder(req):
    """Initial: GOOD. Rewrites: tagged reasoning; logic's y+ loses the format, coherence's y- is unchanged."""
    user = req.messages[-1]["content"]
    if "### Solution" not in user:
        return GOOD
    dim = next(name for text, name in MARK.items() if text in user)
    original = user.split("### Solution\n", 1)[1]
    better = "clearly BETTER" in user
    if dim == "logic" and better:
        return "Improved: " + original.replace("<think>", "").replace("</think>", "")
    if dim == "coherence" and not better:
        return original
    tag = f"[{'better' if better else 'worse'} {dim}]"
    return original.replace("\n</think>", f" {tag}\n</think>")


@pytest.fixture(scope="module")
def problems():
    return load_problems("humaneval", limit=3)


def test_validation_and_pair_building():
    assert check_variant(GOOD, "   ", True) == "empty"
    assert check_variant(GOOD, GOOD.replace("\n", "\n\n"), True) == "unchanged"
    assert check_variant(GOOD, "no tags at all", True) == "format lost"
    assert check_variant(GOOD, "no tags at all", False) is None
    assert check_variant(GOOD, GOOD.replace("Add", "Sum"), True) is None
    plus, minus = GOOD.replace("Add", "Carefully add"), GOOD.replace("Add", "Multiply")
    pairs = build_pairs("stmt", GOOD, {"factual": {"optimized": plus, "degraded": minus},
                                       "logic": {"optimized": None, "degraded": minus}})
    assert [(p["dimension"], p["pair_type"]) for p in pairs] == [
        ("factual", "strong"), ("factual", "degraded"), ("factual", "optimized"), ("logic", "degraded")]
    strong = pairs[0]
    assert "Carefully add" in strong["chosen"] and "Multiply" in strong["rejected"]
    # default: reasoning only, what the RL thinking reward scores
    assert strong["chosen"] == "Carefully add the two numbers." and "return" not in strong["rejected"]
    with_code = build_pairs("stmt", GOOD, {"factual": {"optimized": plus, "degraded": minus}}, include_code=True)
    assert "### Code" in with_code[0]["chosen"] and "return a + b" in with_code[0]["chosen"]  # reasoning + code
    assert "<think>" not in with_code[0]["chosen"]
    # a code-only rewrite is a real variant, but gives no reasoning-only pair (sides identical)
    code_only = GOOD.replace("a + b", "b + a")
    assert check_variant(GOOD, code_only, True) is None
    assert build_pairs("stmt", GOOD, {"factual": {"optimized": code_only, "degraded": None}}) == []
    assert len(build_pairs("stmt", GOOD, {"factual": {"optimized": code_only, "degraded": None}},
                           include_code=True)) == 1


def test_end_to_end_over_http_with_faults_then_resume(problems, tmp_path):
    state = {"broken": True}

    def plan(body, attempt):
        user = body["messages"][-1]["content"]
        if "truncate_number" in user and "### Solution" not in user and state["broken"]:
            return "500"  # problem 3's initial call always fails in the first run
        if "has_close_elements" in user and "### Solution" not in user and attempt == 0:
            return "500"  # retried, then fine
        if "separate_paren_groups" in user and "Factual accuracy" in user and attempt == 0:
            return "malformed"
        return None

    server = FaultInjectingServer(FunctionBackend(od_responder), plan).start()
    try:
        def backend():
            return CachedBackend(make_backend("openai", "scripted", base_url=server.base_url, concurrency=4,
                                              timeout=10, max_retries=2), tmp_path / "cache")

        first = backend()
        summary = PairsRun(problems, first, tmp_path / "out", PairsConfig(batch_problems=2)).run(progress=False)
        assert list(summary.failed) == ["HumanEval/2"] and "HTTP 500" in summary.failed["HumanEval/2"]
        assert "FAILED HumanEval/2" in summary.format()
        assert summary.finished == 2 and summary.status_counts == {"ok": 2}
        # per problem: factual gives all three types; logic's y+ lost the format; coherence's y- is unchanged
        assert summary.pair_counts == {"factual": {"strong": 2, "degraded": 2, "optimized": 2},
                                       "logic": {"strong": 0, "degraded": 2, "optimized": 0},
                                       "coherence": {"strong": 0, "degraded": 0, "optimized": 2}}
        assert summary.pairs == 10 and summary.rejection_reasons == {"format lost": 2, "unchanged": 2}
        pair_set = load_pairs(tmp_path / "out" / "pairs.jsonl")
        assert len(pair_set) == 10
        factual_strong = [p for p in pair_set.pairs if p.dimension == "factual" and p.pair_type == "strong"]
        assert all("[better factual]" in p.chosen and "[worse factual]" in p.rejected for p in factual_strong)
        assert server.attempts  # the scripted server really was called over HTTP
        assert first.usage.failures == 1 and first.usage.calls == 3 + 2 * 6

        # the server recovers: a rerun finishes only the failed problem; finished work is free
        state["broken"] = False
        second = backend()
        summary2 = PairsRun(problems, second, tmp_path / "out", PairsConfig(batch_problems=2)).run(progress=False)
        assert summary2.failed == {} and summary2.resumed == 2 and summary2.finished == 1
        assert summary2.pairs == 15 and second.usage.calls == 7 and second.usage.cache_hits == 0
        records = [json.loads(line) for line in (tmp_path / "out" / "od_records.jsonl").read_text().splitlines()]
        assert sorted(r["task_id"] for r in records) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
        summary_file = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary_file["pair_counts"]["factual"]["strong"] == 3
    finally:
        server.stop()


def test_execute_rejects_optimized_code_that_breaks(problems, tmp_path):
    def responder(req):
        user = req.messages[-1]["content"]
        if "### Solution" in user and "Factual accuracy" in user and "clearly BETTER" in user:
            return GOOD.replace("return a + b", "return a - b").replace("Add", "Really add")
        return od_responder(req)

    judged = []

    def verify_fn(items):
        judged.extend(items)
        return [Verdict("return a + b" in response, "passed" if "return a + b" in response else "failed",
                        1.0, True, "", "", "") for _, response in items]

    run = PairsRun(problems[:1], CachedBackend(FunctionBackend(responder), None), tmp_path,
                   PairsConfig(execute=True), verify_fn=verify_fn)
    summary = run.run(progress=False)
    # (problem, full response) items: y first, then its valid variants
    assert judged[0] == (problems[0], GOOD) and all(problem is problems[0] for problem, _ in judged)
    record = json.loads((tmp_path / "od_records.jsonl").read_text())
    assert record["initial_passed"] is True
    factual_plus = next(v for v in record["variants"] if v["dimension"] == "factual" and v["direction"] == "optimized")
    assert factual_plus["valid"] is False and "fails where the original passed" in factual_plus["reason"]
    assert summary.pair_counts["factual"] == {"strong": 0, "degraded": 1, "optimized": 0}
    assert PairsSpec.read(tmp_path) == PairsSpec(False)
    assert json.loads((tmp_path / PAIRS_SPEC_FILE).read_text()) == {"include_code": False}
    # resuming into the same directory with the other side layout would mix layouts
    with pytest.raises(ConfigError, match="include_code=False"):
        PairsRun(problems[:1], CachedBackend(FunctionBackend(responder), None), tmp_path,
                 PairsConfig(execute=True, include_code=True), verify_fn=verify_fn)


def test_templates_are_overridable_and_checked(tmp_path, problems):
    (tmp_path / "dimensions.yaml").write_text("clarity: Clarity of the explanation.\n")
    templates = ODTemplates.load(tmp_path)
    assert list(templates.dimensions) == ["clarity"]
    messages = templates.messages("degraded", "clarity", "STATEMENT", "RESPONSE")
    assert "Clarity of the explanation." in messages[1]["content"] and "STATEMENT" in messages[1]["content"]
    with pytest.raises(ConfigError, match="dimensions: unknown"):
        PairsRun(problems, FunctionBackend(od_responder), tmp_path / "o", PairsConfig(dimensions=("factual",)),
                 templates)
    (tmp_path / "optimize.txt").write_text("Improve $respons for $statement")
    with pytest.raises(ConfigError, match=r"optimize\.txt: unknown placeholder"):
        ODTemplates.load(tmp_path)


@pytest.fixture(scope="module")
def served_tiny(tiny_policy_path):
    """`pgrpo serve`'s server (ChatServer + hf backend) on the tiny model, in-process on loopback.
    (tests/llm/test_serve_command.py runs the `pgrpo serve` process itself.)"""
    from pgrpo.llm.server import ChatServer

    server = ChatServer(make_backend("hf", tiny_policy_path, device="cpu"), "127.0.0.1", 0).start()
    yield server.base_url
    server.stop()


@pytest.mark.slow
def test_cli_against_pgrpo_serve_killed_and_resumed(served_tiny, tmp_path):
    problems = load_problems("humaneval", limit=3)
    src = tmp_path / "problems.jsonl"
    src.write_text("".join(json.dumps(problem_to_dict(p)) + "\n" for p in problems))
    out = tmp_path / "out"
    args = [*CLI, "rm", "pairs", "--problems", str(src), "--out", str(out), "--model", "tiny",
            "--base-url", served_tiny, "--max-tokens", "12", "--batch-problems", "1",
            "--no-require-format", "--dimensions", "factual",
            "--quiet", "--concurrency", "2"]
    journal = out / "od_records.jsonl"
    done_at_kill = kill_after_first_record(args, journal, timeout_s=120)
    assert 1 <= done_at_kill < len(problems), "the kill should land mid-run"
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    ids = [r["task_id"] for r in records]
    assert sorted(ids) == sorted(p.task_id for p in problems) and len(ids) == len(set(ids))
    assert f"{done_at_kill} resumed" in resumed.stdout
    assert all(r["status"] in ("ok", "initial_invalid", "no_valid_variants") for r in records)
    # a from-scratch rerun on the same cache costs no backend call at all
    for name in ("od_records.jsonl", "pairs.jsonl", "summary.json"):
        os.remove(out / name)
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    usage = re.search(r"(\d+) backend calls, (\d+) cache hits", rerun.stderr)
    assert usage and usage.group(1) == "0" and int(usage.group(2)) >= len(problems)
    assert len(Path(out / "od_records.jsonl").read_text().splitlines()) == len(problems)
