"""`pgrpo check` (pgrpo.evaluation.check / commands): bookkeeping with a fake runner, and the
done-when checks against the real sandbox (skipped until pgrpo.sandbox.Sandbox exists)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import pytest

from pgrpo.cli import main
from pgrpo.data.io import read_jsonl
from pgrpo.data.loaders import load_problems
from pgrpo.evaluation.check import INVALID_SAMPLE, UNKNOWN_TASK, run_check
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ExecResult, Job, Status


@pytest.fixture(scope="module")
def humaneval():
    return load_problems("humaneval")


@pytest.fixture(scope="module")
def mixed(fixtures_dir: str) -> str:
    return os.path.join(fixtures_dir, "check", "mixed_samples.jsonl")


def fake_runner(calls: list[int]):
    """Passes a program iff it contains the canonical-looking marker 'return any' or '% 1.0'."""

    def run(jobs: Sequence[Job]) -> list[ExecResult]:
        calls.append(len(jobs))
        out = []
        for job in jobs:
            ok = "return any" in job.program or "% 1.0" in job.program
            out.append(ExecResult(ok, float(ok), Status.PASSED if ok else Status.FAILED, "" if ok else "wrong", 0.01, int(ok), 1))
        return out

    return run


# Expected per sample_index for tests/fixtures/check/mixed_samples.jsonl (line 4 is blank).
MIXED_STATUS = {0: "passed", 1: INVALID_SAMPLE, 2: UNKNOWN_TASK, 4: "passed", 5: "failed", 6: INVALID_SAMPLE,
                7: INVALID_SAMPLE, 8: INVALID_SAMPLE}


def test_bookkeeping_with_fake_runner(humaneval, mixed, tmp_path) -> None:
    out = tmp_path / "r.jsonl"
    logged: list[str] = []
    calls: list[int] = []
    summary = run_check(humaneval, mixed, out=out, ks=(1, 2), progress=False, runner=fake_runner(calls),
                        log=logged.append, config=SandboxConfig(workers=1))
    records = read_jsonl(out)
    assert [r["sample_index"] for r in records] == sorted(MIXED_STATUS)
    assert {r["sample_index"]: r["status"] for r in records} == MIXED_STATUS
    assert sum(calls) == 3  # only the three runnable samples reach the runner
    # bad lines are reported with their 1-based line number; others still checked
    text = "\n".join(logged)
    for lineno, reason in [(2, "invalid JSON"), (3, "unknown task_id 'HumanEval/9999'"), (7, "expected a JSON object"),
                           (8, "'completion' or 'solution'"), (9, "'completion' or 'solution'")]:
        assert f"mixed_samples.jsonl:{lineno}: " in text and reason in text
    assert records[0]["completion"].startswith("    return any")  # sample fields are kept
    assert summary.status_counts == {"passed": 2, "failed": 1, INVALID_SAMPLE: 4, UNKNOWN_TASK: 1}
    # HumanEval/0: [pass, invalid] -> 0.5; HumanEval/2: [pass, fail, invalid] -> 1/3
    assert summary.num_tasks == 2
    assert summary.pass_at_k[1] == pytest.approx((0.5 + 1 / 3) / 2)
    assert summary.pass_at_k[2] == pytest.approx((1.0 + 2 / 3) / 2)
    assert not (tmp_path / "r.jsonl.partial").exists()
    assert "pass@1: 41.67%" in summary.format()


def test_extract_mode_reads_responses(humaneval, mixed, tmp_path) -> None:
    calls: list[int] = []
    summary = run_check(humaneval, mixed, extract=True, out=tmp_path / "r.jsonl", progress=False,
                        runner=fake_runner(calls), log=lambda _: None)
    records = {r["sample_index"]: r for r in read_jsonl(tmp_path / "r.jsonl")}
    assert records[7]["status"] == "passed"  # the <think>/<answer> response now runs
    assert records[8]["status"] == INVALID_SAMPLE
    assert sum(calls) == 4
    assert summary.skipped_ks == (10,)


def test_resume_after_interruption(humaneval, mixed, tmp_path) -> None:
    out = tmp_path / "r.jsonl"
    calls: list[int] = []
    inner = fake_runner(calls)

    def dies_after_first_chunk(jobs: Sequence[Job]) -> list[ExecResult]:
        if calls:
            raise KeyboardInterrupt
        return inner(jobs)

    with pytest.raises(KeyboardInterrupt):
        run_check(humaneval, mixed, out=out, progress=False, runner=dies_after_first_chunk, chunk_size=1,
                  log=lambda _: None)
    assert not out.exists()
    assert len(read_jsonl(tmp_path / "r.jsonl.partial")) == 1  # the finished chunk survived
    calls.clear()
    summary = run_check(humaneval, mixed, out=out, progress=False, runner=inner, chunk_size=1, log=lambda _: None)
    assert sum(calls) == 2 and summary.num_resumed == 1 and summary.num_run == 2
    assert {r["sample_index"]: r["status"] for r in read_jsonl(out)} == MIXED_STATUS


def test_resume_ignores_results_of_changed_samples(humaneval, tmp_path) -> None:
    samples = tmp_path / "s.jsonl"
    out = tmp_path / "r.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/2", "completion": "    return 0.0\n"}) + "\n")
    stale = {"task_id": "HumanEval/2", "completion": "    return 1.0\n", "sample_index": 0, "passed": True,
             "status": "passed"}
    (tmp_path / "r.jsonl.partial").write_text(json.dumps(stale) + "\n")
    calls: list[int] = []
    summary = run_check(humaneval, samples, out=out, progress=False, runner=fake_runner(calls), log=lambda _: None)
    assert summary.num_resumed == 0 and sum(calls) == 1
    assert read_jsonl(out)[0]["status"] == "failed"


def test_canonical_needs_exactly_one_source(humaneval, mixed) -> None:
    from pgrpo.errors import DataError

    with pytest.raises(DataError):
        run_check(humaneval, mixed, canonical=True)
    with pytest.raises(DataError):
        run_check(humaneval)


def test_cli_errors_are_user_errors(tmp_path, capsys) -> None:
    assert main(["check", "--problems", "humaneval", "--samples", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["check", "--problems", "humaneval", "--canonical", "--k", "0"])


# ----------------------------------------------------------------- real sandbox (done-when)


@pytest.fixture(scope="module")
def sandbox_ready():
    pytest.importorskip("pgrpo.sandbox", reason="sandbox engine")
    import pgrpo.sandbox

    if not hasattr(pgrpo.sandbox, "Sandbox"):
        pytest.skip("pgrpo.sandbox.Sandbox is not built yet")
    return SandboxConfig(workers=2, timeout_per_test_s=10.0)


@pytest.fixture(scope="module")
def humaneval_bodies(humaneval, sandbox_ready, tmp_path_factory):
    """One check over 3 x 164 samples: canonical solution, `pass` body, `return None` body."""
    path = tmp_path_factory.mktemp("check") / "samples.jsonl"
    kinds = []
    with path.open("w") as handle:
        for problem in humaneval:
            for kind, sample in (("canonical", {"solution": problem.canonical_solution}),
                                 ("pass", {"completion": "    pass\n"}),
                                 ("none", {"completion": "    return None\n"})):
                handle.write(json.dumps({"task_id": problem.task_id, **sample}) + "\n")
                kinds.append(kind)
    out = path.with_name("results.jsonl")
    summary = run_check(humaneval, path, out=out, ks=(1, 3), config=sandbox_ready, progress=False)
    return kinds, read_jsonl(out), summary


@pytest.mark.slow
def test_all_humaneval_canonical_solutions_pass(humaneval_bodies) -> None:
    kinds, records, _ = humaneval_bodies
    canonical = [r for kind, r in zip(kinds, records, strict=True) if kind == "canonical"]
    assert len(canonical) == 164
    failing = [(r["task_id"], r["status"], r["detail"][:200]) for r in canonical if not r["passed"]]
    assert failing == []


@pytest.mark.slow
def test_trivial_bodies_fail_on_all_humaneval(humaneval_bodies) -> None:
    kinds, records, summary = humaneval_bodies
    assert [r["sample_index"] for r in records] == list(range(3 * 164))
    trivial = [r for kind, r in zip(kinds, records, strict=True) if kind != "canonical"]
    assert len(trivial) == 2 * 164
    assert [r["task_id"] for r in trivial if r["passed"]] == []
    # one of three samples passes per task: pass@1 = 1/3, pass@3 = 1
    assert summary.pass_at_k[1] == pytest.approx(1 / 3)
    assert summary.pass_at_k[3] == pytest.approx(1.0)


def test_cli_on_mixed_samples_with_real_sandbox(sandbox_ready, mixed, tmp_path, capsys) -> None:
    out = tmp_path / "r.jsonl"
    code = main(["check", "--problems", "humaneval", "--samples", mixed, "--out", str(out), "--workers", "2",
                 "--no-progress", "--k", "1"])
    assert code == 0
    captured = capsys.readouterr()
    assert "mixed_samples.jsonl:2: invalid JSON" in captured.err
    assert "mixed_samples.jsonl:3: unknown task_id" in captured.err
    assert "pass@1: 41.67%" in captured.out
    assert {r["sample_index"]: r["status"] for r in read_jsonl(out)} == MIXED_STATUS


def test_model_responses_run_in_real_sandbox(humaneval, sandbox_ready) -> None:
    """program_from_response + Sandbox: the training path. Helpers come from the starter,
    LeetCode classes and stdio programs run, wrong code fails."""
    from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
    from pgrpo.parsing import extract_code
    from pgrpo.sandbox import Sandbox
    from pgrpo.sandbox.programs import program_from_code

    def program_from_response(problem, response):
        return program_from_code(problem, extract_code(response))

    def respond(code: str) -> str:
        return f"<think>plan</think>\n<answer>\n```python\n{code}\n```\n</answer>"

    by_id = {p.task_id: p for p in humaneval}
    decode_cyclic = (  # HumanEval/38: relies on encode_cyclic from the prompt
        "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n\nprint(decode_cyclic('abc'))"
    )
    leet = Problem("lc", "add", starter_code="class Solution:\n    def add(self, a: int, b: int) -> int:\n        ",
                   entry_point="add",
                   tests=Tests(kind=TestKind.CALL, class_name="Solution",
                               call_cases=(CallCase((1, 2), 3), CallCase((5, 5), 10))))
    stdio = Problem("io", "sum", tests=Tests(kind=TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"),)))
    cases = [
        (by_id["HumanEval/38"], respond(decode_cyclic), True),
        (by_id["HumanEval/38"], respond("def decode_cyclic(s):\n    return s"), False),
        (by_id["HumanEval/2"], respond("return number - int(number)"), True),  # body only
        (by_id["HumanEval/2"], "no code here", False),
        (leet, respond("class Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b"), True),
        (leet, respond("return a - b"), False),
        (stdio, respond("a, b = map(int, input().split())\nprint(a + b)"), True),
        (stdio, respond("print(4)"), False),
    ]
    with Sandbox(sandbox_ready) as sandbox:
        results = sandbox.run([Job(p, program_from_response(p, r)) for p, r, _ in cases], progress=False)
    details = [f"{p.task_id}: {r.status.value} {r.detail[:120]}" for (p, _, _), r in zip(cases, results, strict=True)]
    assert [r.passed for r in results] == [ok for _, _, ok in cases], details
