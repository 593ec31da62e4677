"""BigCodeBench: the hub-layout loader, the four benchmark names, the benchmark's limits, and
`pgrpo evaluate` end to end on a fixture of real-format tasks (numpy, pandas, matplotlib,
files, mocks, a task that outlives its time limit) in the sandbox's unittest harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgrpo.cli import main
from pgrpo.data.loaders import detect_format, load_problems
from pgrpo.data.loaders.bigcodebench import as_instruct
from pgrpo.data.problem import TestKind
from pgrpo.errors import DataError
from pgrpo.evaluation.benchmarks import load_benchmark, resolve_spec, task_messages
from pgrpo.evaluation.bigcodebench import BIGCODEBENCH_LIMITS, sandbox_for
from pgrpo.sandbox.harness import unittest_names
from pgrpo.sandbox.types import Job, SandboxConfig
from pgrpo.verify import Verifier

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bigcodebench"
FULL, HARD, WRONG = FIXTURES / "bigcodebench.jsonl", FIXTURES / "bigcodebench_hard.jsonl", FIXTURES / "wrong_solutions.jsonl"
SLEEPER = "BigCodeBench/9007"  # its canonical solution sleeps 60 s


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _response(code: str) -> str:
    return f"<think>plan</think>\n<answer>\n```python\n{code.rstrip()}\n```\n</answer>"


def test_fixture_rows_have_the_hub_columns_and_load_as_unittest_problems():
    hub_columns = {"task_id", "complete_prompt", "instruct_prompt", "canonical_solution", "code_prompt", "test",
                   "entry_point", "libs", "doc_struct"}
    rows = _rows(FULL)
    assert all(set(row) == hub_columns for row in rows)
    assert detect_format(FULL) == "bigcodebench"
    problems = load_problems(FULL)
    assert [p.task_id for p in problems] == [row["task_id"] for row in rows]
    first, row = problems[0], rows[0]
    assert first.tests.kind is TestKind.UNITTEST and first.tests.test_code == row["test"]
    assert first.canonical_solution == row["complete_prompt"] + "\n" + row["canonical_solution"]
    assert first.statement == first.starter_code == row["complete_prompt"]
    assert first.metadata["libs"] == ["numpy"]  # the hub's "['numpy']" text, parsed


def test_instruct_split_asks_the_natural_language_prompt_with_code_prompt_as_starter():
    problem = as_instruct(load_problems(FULL)[0])
    row = _rows(FULL)[0]
    assert problem.statement == row["instruct_prompt"] and problem.starter_code == row["code_prompt"]
    task = load_benchmark("bigcodebench_hard_instruct", data={"bigcodebench_hard_instruct": str(HARD)})[0]
    user = task_messages(task, "plain")[-1]["content"]
    assert user.count("def task_func(records):") == 1 and "The function should output with" in user


@pytest.mark.parametrize(("change", "message"), [
    ({"code_prompt": None}, "bigcodebench.jsonl:2: field 'code_prompt' is null"),
    ({"libs": "['numpy'"}, "bigcodebench.jsonl:2: field 'libs' is not a Python list literal"),
    ({"test": "import unittest\n"}, "bigcodebench.jsonl:2: field 'test' defines no `class TestCases"),
])
def test_malformed_rows_name_file_line_and_field(tmp_path, change, message):
    rows = _rows(FULL)[:2]
    rows[1].update(change)
    path = tmp_path / "bigcodebench.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_problems(path)


def test_four_names_share_the_benchmarks_limits_and_explicit_flags_win():
    for name in ("bigcodebench", "bigcodebench_instruct", "bigcodebench_hard", "bigcodebench_hard_instruct"):
        assert resolve_spec(name).sandbox_config(SandboxConfig(workers=1)).timeout_per_program_s == 241.0
    assert resolve_spec("humaneval").sandbox_config(SandboxConfig(workers=1)).timeout_per_program_s == 30.0
    mine = sandbox_for(BIGCODEBENCH_LIMITS, SandboxConfig(workers=1, timeout_per_program_s=5.0))
    assert (mine.timeout_per_program_s, mine.timeout_per_test_s, mine.memory_mb) == (5.0, 241.0, 30 * 1024)


def test_harness_counts_test_methods_from_the_trusted_test_code():
    assert unittest_names(_rows(FULL)[2]["test"]) == ["test_bins", "test_labels", "test_saves"]
    assert unittest_names("class Other: pass") == [] and unittest_names("def (") == []


@pytest.mark.slow
@pytest.mark.sandbox
def test_evaluate_end_to_end_canonical_pass_wrong_fail_sleeper_times_out(tmp_path):
    """`pgrpo evaluate --benchmarks bigcodebench_hard --data bigcodebench_hard=FIXTURE` on samples
    already in --out (--rescore): canonical solutions (index 0) and planted wrong ones (index 1)."""
    wrong = {w["task_id"]: w["solution"] for w in _rows(WRONG)}
    out = tmp_path / "eval"
    out.mkdir()
    with open(out / "samples.jsonl", "w") as handle:
        for row in _rows(HARD):
            for index, code in enumerate((row["complete_prompt"] + "\n" + row["canonical_solution"],
                                          wrong[row["task_id"]])):
                handle.write(json.dumps({"benchmark": "bigcodebench_hard", "task_id": row["task_id"],
                                         "sample_index": index, "response": _response(code)}) + "\n")
    argv = ["evaluate", "--rescore", "--benchmarks", "bigcodebench_hard", "--data", f"bigcodebench_hard={HARD}",
            "--out", str(out), "--workers", "2", "--sandbox-timeout-per-program-s", "8", "--no-progress"]
    assert main(argv) == 0
    results = {(r["task_id"], r["sample_index"]): r for r in map(json.loads, (out / "results.jsonl").open())}
    assert len(results) == 10
    for (task_id, index), result in results.items():
        if index == 1:
            assert result["status"] == "failed", (task_id, result)
        elif task_id == SLEEPER:
            assert result["status"] == "timeout" and "8s" in result["detail"]
        else:
            assert result["status"] == "passed", (task_id, result["detail"])
    bench = json.loads((out / "summary.json").read_text())["benchmarks"][0]
    assert bench["benchmark"] == "bigcodebench_hard" and bench["pass_at_k"]["pass@1"] == pytest.approx(0.4)
    assert bench["statuses"] == {"passed": 4, "failed": 5, "timeout": 1}


@pytest.mark.sandbox
def test_instruct_body_only_answers_and_cheats_are_judged_by_the_harness():
    """A body-only answer continues code_prompt (instruct split). Exiting, printing unittest's
    success output or raising SystemExit never passes: the harness wants every test reported ok."""
    problems = {p.task_id: p for p in load_problems(FULL)}
    instruct = as_instruct(problems["BigCodeBench/9008"])
    body = _rows(FULL)[7]["canonical_solution"]
    stub = "import os, sys\ndef task_func(text):\n    return []\n"  # defines the entry point: module-level code runs
    cheats = [
        stub + "os._exit(0)\n",
        stub + "print('...\\n------------------------------------------------------------\\nRan 3 tests\\n\\nOK')\n"
               "sys.stdout.flush()\nos._exit(0)\n",
        "def task_func(text):\n    raise SystemExit(0)\n",
        stub + "sys.exit(0)\n",
    ]
    with Verifier(SandboxConfig(workers=1, timeout_per_program_s=20.0)) as verifier:
        verdict = verifier([(instruct, _response(body))])[0]
        # as whole programs (`pgrpo check` samples): module-level code is not sanitized away
        results = verifier.run_jobs([Job(problems["BigCodeBench/9008"], c) for c in cheats])
    assert verdict.passed, verdict.detail
    assert [r.status.value for r in results] == ["runtime_error", "runtime_error", "failed", "runtime_error"]
