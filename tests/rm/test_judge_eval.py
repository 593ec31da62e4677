"""`pgrpo rm eval --evaluator llm-judge`: verdict parsing, the swapped-order rule, per-pair failures,
end to end over HTTP against a scripted server with faults, and against the tiny model's ChatServer."""

from __future__ import annotations

import json
import os

import pytest

from doubles import FaultInjectingServer, FunctionBackend
from pgrpo.cli import main
from pgrpo.llm import CachedBackend
from pgrpo.rm.bench_formats import EvalPair
from pgrpo.rm.benchmarks import load_benchmark
from pgrpo.rm.judge_eval import LLMJudgeEvaluator, combine, parse_preference
from pgrpo.rm.scoring import RMItem


@pytest.mark.parametrize("text, verdict", [
    ("A", "A"), (" [[B]] ", "B"), ("Reasoning...\nfinal: [[a]]", "A"), ("First [[A]], on reflection [[B]]", "B"),
    ("Both are fine.\n**B**", "B"), ("The better response is Response A.", "A"), ("Verdict: B", "B"),
    ("I cannot decide.", None), ("", None), ("Apples and Bananas", None),
])
def test_parse_preference(text, verdict):
    assert parse_preference(text) == verdict


def test_combine_rules():
    assert combine("A", "B") == "win"  # chosen preferred in both orders
    assert combine("B", "A") == "loss"
    assert combine("A", "A") == combine("B", "B") == "tie"  # position bias cancels out
    assert combine(None, "B") == "tie"


def _answer_by_content(req):
    """A judge that prefers whichever response shows the longer reasoning (unbiased)."""
    text = req.messages[-1]["content"]
    a = text.split("### Response A\n", 1)[1].split("### Response B\n", 1)[0]
    b = text.split("### Response B\n", 1)[1].split("Give a brief justification", 1)[0]
    return "Thinking it over.\n[[A]]" if len(a) > len(b) else "Thinking it over.\n[[B]]"


def test_position_bias_and_failures_in_process():
    pairs = [EvalPair("s", RMItem("p", "long careful reasoning", "x = 1"), RMItem("p", "short", "y = 2"), 1, "q1"),
             EvalPair("s", RMItem("p", "short", None), RMItem("p", "long careful reasoning", None), 2, "q2")]
    judge = LLMJudgeEvaluator(CachedBackend(FunctionBackend(_answer_by_content), None))
    assert judge.compare(pairs) == [(1.0, 0.0), (0.0, 1.0)] and judge.failures == []
    first = judge.backend.backend  # type: ignore[attr-defined]  # the FunctionBackend
    assert first.calls == 4  # two orders per pair

    biased = LLMJudgeEvaluator(CachedBackend(FunctionBackend(lambda req: "[[A]]"), None))
    assert biased.compare(pairs) == [(0.5, 0.5), (0.5, 0.5)]  # always "A": split verdicts tie

    def flaky(req):
        if "careful" in req.messages[-1]["content"].split("### Response B", 1)[0]:
            raise RuntimeError("judge down")
        return "no idea"

    broken = LLMJudgeEvaluator(CachedBackend(FunctionBackend(flaky), None))
    assert broken.compare(pairs) == [(0.5, 0.5), (0.5, 0.5)]
    assert [o.line for o in broken.failures] == [1, 2]
    assert "call failed" in broken.failures[0].error and "no verdict" in broken.failures[0].error
    assert "2 of 2 pair(s) failed" in broken.failure_report()

    # code is shown when the row has it, and hidden with include_code=False
    seen = []
    LLMJudgeEvaluator(CachedBackend(FunctionBackend(lambda r: seen.append(r) or "[[A]]"), None),
                      include_code=False).compare(pairs[:1])
    assert "### Code" not in seen[0].messages[-1]["content"]
    seen.clear()
    LLMJudgeEvaluator(CachedBackend(FunctionBackend(lambda r: seen.append(r) or "[[A]]"), None)).compare(pairs[:1])
    assert "### Code" in seen[0].messages[-1]["content"] and "x = 1" in seen[0].messages[-1]["content"]


def test_cli_llm_judge_over_http_with_faults(fixtures_dir, tmp_path, capsys):
    data = os.path.join(fixtures_dir, "rm", "lcb_rb_small.jsonl")
    _, pairs = load_benchmark(data)
    victim = pairs[1].chosen.reasoning  # this pair's queries always fail with HTTP 500

    def plan(body, attempt):
        text = body["messages"][-1]["content"]
        if victim in text:
            return "500"
        return "malformed" if attempt == 0 else None  # every other query: retried once, then fine

    server = FaultInjectingServer(FunctionBackend(_answer_by_content), plan).start()
    try:
        args = ["rm", "eval", "--data", data, "--evaluator", "llm-judge", "--n-boot", "50",
                "--option", "model=judge", "--option", f"base_url={server.base_url}",
                "--option", "max_retries=1", "--option", "timeout=10",
                "--out", str(tmp_path / "out")]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert server.faults_served.count("malformed") == 2 * (len(pairs) - 1)
        verdicts = [json.loads(line) for line in (tmp_path / "out" / "judge_verdicts.jsonl").read_text().splitlines()]
        assert len(verdicts) == len(pairs)
        assert verdicts[1]["result"] == "tie" and "HTTP 500" in verdicts[1]["error"]
        assert f"1 of {len(pairs)} pair(s) failed" in out and "line 2 (id q2)" in out
        expected = ["win" if len(p.chosen.reasoning + (p.chosen.code or "")) > len(p.rejected.reasoning +
                    (p.rejected.code or "")) else "loss" for p in pairs]
        for i, v in enumerate(verdicts):
            if i != 1:
                assert v["result"] == expected[i] and v["error"] == ""
        results = json.loads((tmp_path / "out" / "results.json").read_text())
        wins = sum(v["result"] == "win" for v in verdicts)
        assert results["evaluator"] == "llm-judge"
        assert results["overall"]["accuracy"] == pytest.approx((wins + 0.5) / len(pairs))

        # the rerun is answered from OUT/llm_cache except the failed pair, which is asked again
        before = sum(server.attempts.values())
        assert main(args) == 0
        capsys.readouterr()
        assert sum(server.attempts.values()) - before == 2 * 2  # 2 queries x (1 try + 1 retry)
    finally:
        server.stop()


def test_cli_llm_judge_option_errors(fixtures_dir, capsys):
    data = os.path.join(fixtures_dir, "rm", "lcb_rb_small.jsonl")
    assert main(["rm", "eval", "--data", data, "--evaluator", "llm-judge"]) == 2
    assert "--option model=NAME is required" in capsys.readouterr().err
    assert main(["rm", "eval", "--data", data, "--evaluator", "llm-judge", "--option", "model=m",
                 "--option", "colour=red"]) == 2
    assert "--option colour: unknown" in capsys.readouterr().err
    assert main(["rm", "eval", "--data", data, "--evaluator", "llm-judge", "--option", "model=m",
                 "--option", "timeout=soon"]) == 2
    assert "expected a float" in capsys.readouterr().err
    assert main(["rm", "eval", "--data", data, "--evaluator", "llm-judge", "--option", "model=m",
                 "--option", "include_code=maybe"]) == 2  # what the judge is shown: its option, not a flag
    assert "--option include_code=maybe: expected a bool" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_llm_judge_against_tiny_chat_server(tiny_policy_path, fixtures_dir, tmp_path, capsys):
    """`pgrpo serve`'s ChatServer with the tiny (untrained) model: its answers carry no verdict,
    so every pair is a listed failure counted as a tie -- none is dropped."""
    from pgrpo.llm import make_backend
    from pgrpo.llm.server import ChatServer

    data = os.path.join(fixtures_dir, "rm", "lcb_rb_small.jsonl")
    server = ChatServer(make_backend("hf", tiny_policy_path, device="cpu"), "127.0.0.1", 0).start()
    try:
        assert main(["rm", "eval", "--data", data, "--evaluator", "llm-judge", "--n-boot", "20",
                     "--option", "model=tiny", "--option", f"base_url={server.base_url}",
                     "--option", "max_tokens=4", "--out", str(tmp_path / "out")]) == 0
    finally:
        server.stop()
    out = capsys.readouterr().out
    verdicts = [json.loads(line) for line in (tmp_path / "out" / "judge_verdicts.jsonl").read_text().splitlines()]
    _, pairs = load_benchmark(data)
    assert len(verdicts) == len(pairs)
    assert all(v["result"] in ("win", "loss", "tie") for v in verdicts)
    assert all(v["error"] for v in verdicts if v["first"] is None or v["second"] is None)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["overall"]["n"] == len(pairs)
    assert "llm-judge on" in out
