"""`pgrpo bench build`: LCB-RB end to end over HTTP (scripted generator + judge with faults, the
real sandbox), pair selection rules, and the CLI against the tiny served model, killed and resumed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from doubles import FaultInjectingServer, FunctionBackend, kill_after_first_record
from pgrpo.bench.build import BenchBuild, BenchConfig, select_pairs
from pgrpo.bench.judge import LLMJudge, parse_verdict
from pgrpo.data.loaders import load_problems
from pgrpo.llm import CachedBackend, make_backend
from pgrpo.rm.benchmarks import load_benchmark
from pgrpo.verify import Verifier

CLI = [sys.executable, "-c", "import sys; from pgrpo.cli import main; sys.exit(main())"]
SOLUTIONS = {  # statement keyword -> (correct code, wrong code)
    "A + B": ("a, b = map(int, input().split())\nprint(a + b)", "a, b = map(int, input().split())\nprint(a - b)"),
    "2 * N": ("print(2 * int(input()))", "print(2 * int(input()))"),  # every sample correct
    "largest element": ("class Solution:\n    def maxOf(self, nums):\n        return max(nums)",
                        "class Solution:\n    def maxOf(self, nums):\n        return min(nums)"),
    "reversed": ("print(input()[::-1])", "print(input())"),
}


def _response(reasoning: str, code: str | None) -> str:
    answer = f"<answer>\n```python\n{code}\n```\n</answer>" if code is not None else "I give up."
    return f"<think>\n{reasoning}\n</think>\n{answer}"


def scripted(req):
    user = req.messages[-1]["content"]
    if "CONSISTENT or INCONSISTENT" in user:
        return "They differ. INCONSISTENT" if "mismatch" in user else "Verdict: CONSISTENT"
    good, bad = next(v for k, v in SOLUTIONS.items() if k in user)
    samples = [
        _response("Apply the formula from the statement directly.", good),
        _response("Subtract instead; that is what the statement means.", bad),
        _response("A mismatch: this talks about sorting.", good),
        _response("Apply the formula from the statement directly.", good),  # duplicate of sample 0
        _response("Another mismatch between words and code.", bad),
        _response("No idea.", None),
    ]
    return [samples[i % len(samples)] for i in range(req.n)]


@pytest.fixture(scope="module")
def problems(fixtures_dir):
    return load_problems(os.path.join(fixtures_dir, "bench", "lcb_small.jsonl"))


def test_verdict_parsing_and_pair_selection(problems):
    assert parse_verdict("reasoning... so: Consistent.") is True
    assert parse_verdict("Not CONSISTENT at first sight; INCONSISTENT") is False
    assert parse_verdict("no idea") is None
    base = {"code": "x", "detail": "", "status": "failed", "format_ok": True}
    samples = [
        {**base, "index": 0, "reasoning": "good", "passed": True, "consistent": True, "status": "passed"},
        {**base, "index": 1, "reasoning": "good", "passed": True, "consistent": True, "status": "passed"},  # dup
        {**base, "index": 2, "reasoning": "bad", "passed": False, "consistent": True},
        {**base, "index": 3, "reasoning": "lost", "passed": False, "consistent": False},
        {**base, "index": 4, "reasoning": "broken sandbox", "passed": False, "consistent": True,
         "status": "sandbox_error"},
        {**base, "index": 5, "reasoning": "other bad", "passed": False, "consistent": True, "code": "y"},
        {**base, "index": 6, "reasoning": "unformatted", "passed": False, "consistent": True, "format_ok": False},
    ]
    rows = select_pairs(problems[0], samples, k=5, seed=0)
    assert len(rows) == 1  # one unique good sample -> one pair
    assert rows[0]["chosen_sample"] == 0 and rows[0]["rejected_sample"] in (2, 5)
    assert rows[0]["question_id"] == "abc001_a" and rows[0]["contest_date"] == "2024-01-10"
    assert rows == select_pairs(problems[0], samples, k=5, seed=0)  # deterministic


@pytest.mark.slow
@pytest.mark.sandbox
def test_build_over_http_with_faults_then_resume(problems, tmp_path):
    state = {"broken": True}

    def plan(body, attempt):
        user = body["messages"][-1]["content"]
        if "reversed" in user and "CONSISTENT or" not in user and state["broken"]:
            return "500"
        if "CONSISTENT or" in user and "Subtract" in user and attempt == 0:
            return "empty"
        return None

    server = FaultInjectingServer(FunctionBackend(scripted), plan).start()
    verifier = Verifier()

    def run():
        def client():
            return CachedBackend(make_backend("openai", "scripted", base_url=server.base_url, timeout=20,
                                              max_retries=2), tmp_path / "cache")

        gen, judge_backend = client(), client()
        build = BenchBuild(problems, gen, LLMJudge(judge_backend), tmp_path / "out",
                           BenchConfig(samples=6, batch_problems=2), verifier, window=("2024-01-01", None))
        return build.run(progress=False), gen, judge_backend

    try:
        summary, gen, judge_backend = run()
        assert list(summary.failed) == ["abc003_c"] and "HTTP 500" in summary.failed["abc003_c"]
        assert summary.status_counts == {"paired": 2, "no_incorrect": 1}
        assert gen.usage.calls == 4 and gen.usage.failures == 1
        assert judge_backend.usage.calls == 8  # 4 unique code-bearing samples x 2 problems; none for abc002_b
        fmt, pairs = load_benchmark(tmp_path / "out" / "lcb_rb.jsonl")
        assert fmt.name == "lcb-rb" and [p.pair_id for p in pairs] == ["abc001_a", "lc_3001"]
        assert "a + b" in str(pairs[0].chosen.code) and "a - b" in str(pairs[0].rejected.code)
        assert "Subtract" in pairs[0].rejected.reasoning and "mismatch" not in pairs[0].chosen.reasoning
        assert {p.subset for p in pairs} == {"easy", "hard"}
        sheet = json.loads((tmp_path / "out" / "datasheet.json").read_text())
        assert sheet["pairs"] == 2 and sheet["pairs_by_difficulty"] == {"easy": 1, "hard": 1}
        assert sheet["pair_date_window"] == ["2024-01-10", "2024-03-01"] and "abc003_c" in sheet["failed"]
        review = (tmp_path / "out" / "review.md").read_text()
        assert review.count("## Pair ") == 2 and "- [ ] reviewed" in review and "INCONSISTENT" not in review

        state["broken"] = False
        summary2, gen2, judge2 = run()
        assert summary2.failed == {} and summary2.resumed == 3 and summary2.pairs == 3
        assert gen2.usage.calls == 1 and judge2.usage.calls == 4
        lines = (tmp_path / "out" / "samples.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["question_id"] for line in lines) == sorted(p.task_id for p in problems)
    finally:
        server.stop()
        verifier.close()


@pytest.fixture(scope="module")
def served_tiny(tiny_policy_path):
    """`pgrpo serve`'s server on the tiny model, in-process on loopback."""
    from pgrpo.llm.server import ChatServer

    server = ChatServer(make_backend("hf", tiny_policy_path, device="cpu"), "127.0.0.1", 0).start()
    yield server.base_url
    server.stop()


@pytest.mark.slow
def test_cli_against_tiny_model_killed_and_resumed(served_tiny, fixtures_dir, tmp_path):
    out = tmp_path / "out"
    args = [*CLI, "bench", "build", "--problems", os.path.join(fixtures_dir, "bench", "lcb_small.jsonl"),
            "--out", str(out), "--model", "tiny", "--base-url", served_tiny, "--samples", "2",
            "--max-tokens", "12", "--batch-problems", "1", "--sandbox-workers", "1", "--quiet"]
    journal = out / "samples.jsonl"
    done_at_kill = kill_after_first_record(args, journal, timeout_s=180)
    assert 1 <= done_at_kill < 4, "the kill should land mid-run"
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ids = [json.loads(line)["question_id"] for line in journal.read_text().splitlines()]
    assert sorted(ids) == ["abc001_a", "abc002_b", "abc003_c", "lc_3001"]
    assert f"{done_at_kill} resumed" in resumed.stdout
    for name in ("lcb_rb.jsonl", "review.md", "datasheet.md", "datasheet.json"):
        assert (out / name).exists()
    os.remove(journal)
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    usage = re.search(r"generator LLM usage: 4 requests, (\d+) backend calls, (\d+) cache hits", rerun.stderr)
    assert usage and usage.group(1) == "0" and usage.group(2) == "4", rerun.stderr[-2000:]


def test_make_judge_checks_name_and_backend():
    from pgrpo.bench.judge import judge_needs_backend, make_judge
    from pgrpo.errors import PgrpoError

    assert judge_needs_backend("llm")
    with pytest.raises(PgrpoError, match="needs an LLM backend"):
        make_judge("llm")
    with pytest.raises(PgrpoError, match="unknown judge 'nope'; known: .*llm"):
        make_judge("nope")
    judge = make_judge("llm", FunctionBackend(scripted))
    assert judge.model == "scripted"
