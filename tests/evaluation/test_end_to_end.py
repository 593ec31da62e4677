"""End to end on HumanEval: tiny model through the hf backend + sandbox; --rescore of canonical solutions."""

from __future__ import annotations

import json
import os

import pytest

from pgrpo.cli import main
from pgrpo.evaluation.benchmarks import load_benchmark
from pgrpo.evaluation.runner import EvalConfig, evaluate
from pgrpo.evaluation.summary import DateWindow
from pgrpo.sandbox import SandboxConfig


def _write_canonical_samples(path, limit=None, with_benchmark=True):
    """HumanEval's canonical solutions as full model responses (prompt + body in the answer fence)."""
    tasks = load_benchmark("humaneval", limit=limit)
    with open(path, "w") as handle:
        for t in tasks:
            p = t.problem
            assert p is not None and p.canonical_solution is not None
            program = p.canonical_solution if p.canonical_solution.startswith(p.starter_code) else (
                p.starter_code + p.canonical_solution)
            response = f"<think>Use the reference solution.</think>\n<answer>\n```python\n{program}```\n</answer>"
            record = {"task_id": t.task_id, "sample_index": 0, "response": response}
            if with_benchmark:
                record["benchmark"] = "humaneval"
            handle.write(json.dumps(record) + "\n")
    return len(tasks)


@pytest.mark.slow
@pytest.mark.sandbox
def test_tiny_model_runs_every_stage_and_resumes(tmp_path, tiny_policy_path):
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", tiny_policy_path, "--benchmarks", "humaneval", "--limit", "3", "--n", "1",
            "--max-tokens", "16", "--out", str(out), "--workers", "2", "--no-progress",
            "--backend-option", "max_batch_size=3"]
    assert main(argv) == 0
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [s["task_id"] for s in samples] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert all(s["prompt"][-1]["role"] == "user" and isinstance(s["response"], str) for s in samples)
    assert len(results) == 3 and all(r["status"] for r in results)
    summary = json.loads((out / "summary.json").read_text())
    bench = summary["benchmarks"][0]
    assert bench["num_samples"] == 3 and 0.0 <= bench["pass_at_k"]["pass@1"] <= 1.0
    assert summary["token_counter"] == f"tokenizer:{tiny_policy_path}"  # the model's own tokenizer
    assert summary["settings"]["max_tokens"] == 16

    # Interrupted run: drop the last sample and its verdict; the rerun regenerates just that one.
    (out / "samples.jsonl").write_text("".join(x + "\n" for x in (out / "samples.jsonl").read_text().splitlines()[:2]))
    (out / "results.jsonl").write_text("".join(x + "\n" for x in (out / "results.jsonl").read_text().splitlines()[:1]))
    config = EvalConfig(benchmarks=["humaneval"], out_dir=str(out), model=tiny_policy_path, limit=3, max_tokens=16,
                        backend_options={"max_batch_size": 3}, sandbox=SandboxConfig(workers=2), progress=False)
    outcome = evaluate(config)
    assert outcome.generation is not None
    assert (outcome.generation.generated, outcome.generation.already_done, outcome.checked) == (1, 2, 2)
    keys = [(json.loads(x)["task_id"], json.loads(x)["sample_index"])
            for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 3
    assert outcome.summary.benchmarks[0].num_samples == 3


@pytest.mark.sandbox
def test_rescore_canonical_subset(tmp_path):
    out = tmp_path / "canon"
    out.mkdir()
    _write_canonical_samples(out / "samples.jsonl", limit=8, with_benchmark=False)  # external-tool samples
    outcome = evaluate(EvalConfig(benchmarks=["humaneval"], out_dir=str(out), rescore=True, limit=8,
                                  sandbox=SandboxConfig(workers=2), progress=False))
    bench = outcome.summary.benchmarks[0]
    assert bench.num_tasks == 8 and bench.missing_tasks == 0
    assert bench.pass_at_k[1] == 1.0 and bench.statuses == {"passed": 8}
    # Broken samples must fail: rescore after corrupting one solution.
    lines = (out / "samples.jsonl").read_text().splitlines()
    bad = json.loads(lines[0])
    bad["response"] = bad["response"].replace("return", "return not", 1)
    (out / "samples.jsonl").write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n")
    again = evaluate(EvalConfig(benchmarks=["humaneval"], out_dir=str(out), rescore=True, limit=8,
                                sandbox=SandboxConfig(workers=2), progress=False))
    assert again.summary.benchmarks[0].pass_at_k[1] == pytest.approx(7 / 8)
    assert len((out / "results.jsonl").read_text().splitlines()) == 8  # rescore replaces old verdicts


@pytest.mark.slow
@pytest.mark.sandbox
def test_rescore_all_164_canonical_solutions_pass(tmp_path):
    out = tmp_path / "canon164"
    out.mkdir()
    assert _write_canonical_samples(out / "samples.jsonl") == 164
    assert main(["evaluate", "--rescore", "--benchmarks", "humaneval", "--out", str(out), "--no-progress",
                 "--workers", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    bench = summary["benchmarks"][0]
    assert bench["num_samples"] == 164 and bench["missing_tasks"] == 0
    assert bench["pass_at_k"] == {"pass@1": 1.0}


class _ProgramBackend:
    """A stand-in ChatBackend: answers each prompt with a fixed program chosen by substring."""

    name = "programs"
    model = "programs"
    chunk_size = 8

    def __init__(self, script):
        self.script = script

    def generate(self, requests, progress=False):
        from pgrpo.llm.base import ChatResult

        out = []
        for req in requests:
            text = req.messages[-1]["content"]
            code = next(v for k, v in self.script.items() if k in text)
            out.append(ChatResult([f"<think>ok</think>\n<answer>\n```python\n{code}\n```\n</answer>"] * req.n))
        return out

    def close(self):
        pass


@pytest.mark.sandbox
def test_lcb_and_mbpp_plus_through_the_sandbox(tmp_path, fixtures_dir):
    fix = os.path.join(fixtures_dir, "evaluation")
    good_stdio = "n = int(input())\nprint(2 * n)"
    bad_stdio = "n = int(input())\nprint(n + 3)"  # right on the public test (3 -> 6), wrong on 10
    script = {"Read an integer": good_stdio, "double a number": "def double(x):\n    return x * 2"}
    config = EvalConfig(benchmarks=["lcb", "mbpp_plus"], out_dir=str(tmp_path / "a"), model="programs",
                        data={"lcb": os.path.join(fix, "lcb_tiny.jsonl"),
                              "mbpp_plus": os.path.join(fix, "evalplus_tiny.jsonl")},
                        lcb_windows=(DateWindow.parse("2025-01-01:"),),
                        sandbox=SandboxConfig(workers=2), progress=False)
    outcome = evaluate(config, backend=_ProgramBackend(script))  # type: ignore[arg-type]  # a duck-typed double
    lcb, mbpp = outcome.summary.benchmarks
    assert lcb.pass_at_k[1] == 1.0 and mbpp.pass_at_k[1] == 1.0
    assert [g.name for g in lcb.by_difficulty] == ["easy", "medium", "hard"]
    assert [(g.name, g.num_tasks) for g in lcb.by_window] == [("2025-01-01:", 2)]

    script_bad = {"Read an integer": bad_stdio, "double a number": "def double(x):\n    return 4 if x == 2 else 0"}
    config.out_dir = str(tmp_path / "b")
    outcome = evaluate(config, backend=_ProgramBackend(script_bad))  # type: ignore[arg-type]
    lcb, mbpp = outcome.summary.benchmarks
    assert lcb.pass_at_k[1] == 0.0 and mbpp.pass_at_k[1] == 0.0
    assert all(g.pass_at_k[1] == 0.0 for g in lcb.by_difficulty)
    assert 0.0 < min(r.pass_fraction for r in outcome.out.read_results()) < 1.0  # partial passes recorded
