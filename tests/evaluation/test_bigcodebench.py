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
from pgrpo.data.unittest_suite import unittest_names
from pgrpo.errors import DataError
from pgrpo.evaluation.benchmarks import load_benchmark, task_messages
from pgrpo.sandbox.kinds import SPECS, effective_limits, serve_command
from pgrpo.sandbox.remote import RemoteSandbox, ServiceMismatch
from pgrpo.sandbox.service import BackgroundService
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import Job
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


def test_limits_belong_to_the_unittest_kind_and_explicit_flags_win():
    limits = SPECS[TestKind.UNITTEST].limits
    assert limits is not None and (limits.timeout_s, limits.memory_mb, limits.scratch_mb) == (241.0, 30 * 1024, 256)
    changed = effective_limits(SandboxConfig(timeout_per_program_s=5.0), TestKind.UNITTEST)  # not the default: kept
    assert (changed["timeout_per_test_s"], changed["timeout_per_program_s"], changed["scratch_mb"]) == (241.0, 5.0, 256)
    given = effective_limits(SandboxConfig.given(memory_mb=4096), TestKind.UNITTEST)  # explicit, at its default: kept
    assert (given["memory_mb"], given["timeout_per_program_s"]) == (4096, 241.0)
    assert effective_limits(SandboxConfig(), TestKind.CALL) == effective_limits(SandboxConfig(), TestKind.STDIO)


@pytest.mark.sandbox
def test_a_sandbox_service_gets_the_kind_limits_and_a_refusal_says_how_to_serve_them():
    task = load_benchmark("bigcodebench_hard", data={"bigcodebench_hard": str(HARD)})[0]
    assert task.problem is not None
    with BackgroundService(SandboxConfig(workers=1)) as service, \
            RemoteSandbox(service.url, SandboxConfig(url=service.url)) as client:
        with pytest.raises(ServiceMismatch, match="'unittest' test kind's own limits") as info:
            client.run([Job(task.problem, "def task_func():\n    pass\n")])
    hint = serve_command(TestKind.UNITTEST)
    assert hint in str(info.value) and "--sandbox-memory-mb 30720" in hint


def test_instruct_split_of_a_non_bigcodebench_file_is_a_data_error_naming_file_and_task(tmp_path):
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps({"task_id": "t/1", "statement": "s", "entry_point": "f",
                                "tests": {"kind": "asserts", "asserts": ["assert f() == 1"]}}) + "\n")
    with pytest.raises(DataError, match=r"bigcodebench_instruct.*he.jsonl.*'t/1'.*'asserts', expected 'unittest'"):
        load_benchmark("bigcodebench_instruct", data={"bigcodebench_instruct": str(path)})
    with pytest.raises(DataError, match="task 't/1'"):
        as_instruct(load_problems(path)[0])


def test_test_methods_are_counted_from_the_trusted_test_code():
    assert unittest_names(_rows(FULL)[2]["test"]) == ("test_bins", "test_labels", "test_saves")
    assert unittest_names("class Other: pass") == () and unittest_names("def (") == ()
    inherited = "class Base:\n    def test_a(self): pass\nclass TestCases(Base):\n    def test_b(self): pass\n"
    assert unittest_names(inherited) == ("test_a", "test_b")
    assert load_problems(FULL)[2].tests.count == 3  # what the harness reports as tests_total


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


def test_training_refuses_unittest_problems_unless_the_recipe_opts_in():
    from pgrpo.train.config import DataSection, TrainConfig
    from pgrpo.train.tasks import load_examples

    config = TrainConfig(output_dir="unused", data=DataSection(source=str(FULL), limit=2))
    with pytest.raises(DataError, match=r"data.allow_unittest: true"):
        load_examples(config, None)
    config.data.allow_unittest = True
    examples = load_examples(config, None)  # no tokenizer: plain-text prompts
    assert [e.task_id for e in examples] == ["BigCodeBench/9001", "BigCodeBench/9002"]


class _AnswerBackend:
    """A stand-in ChatBackend answering each BigCodeBench prompt with a chosen solution, matched
    by the first line of the task's docstring (which the complete-split prompt carries)."""

    name = model = "answers"
    chunk_size = 8

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.prompts: list[str] = []

    def generate(self, requests, progress=False):
        from pgrpo.llm.base import ChatResult

        out = []
        for req in requests:
            text = req.messages[-1]["content"]
            self.prompts.append(text)
            code = next(v for k, v in self.answers.items() if k in text)
            out.append(ChatResult([_response(code)] * req.n))
        return out

    def close(self):
        pass


@pytest.mark.slow
@pytest.mark.sandbox
def test_evaluate_generates_then_judges_bigcodebench_hard(tmp_path):
    """The whole path with generation: prompt -> backend -> answer region -> unittest harness ->
    pass@1. Canonical answers pass except the task that outlives its limit; wrong ones all fail."""
    from pgrpo.evaluation.runner import EvalConfig, evaluate

    rows = _rows(HARD)
    wrong = {w["task_id"]: w["solution"] for w in _rows(WRONG)}

    def key(row):
        return row["complete_prompt"].split('"""')[1].strip().splitlines()[0]

    for name, answers, expected in (
            ("canonical", {key(r): r["complete_prompt"] + "\n" + r["canonical_solution"] for r in rows},
             {"passed": 4, "timeout": 1}),
            ("wrong", {key(r): wrong[r["task_id"]] for r in rows}, {"failed": 5})):
        backend = _AnswerBackend(answers)
        config = EvalConfig(benchmarks=["bigcodebench_hard"], out_dir=str(tmp_path / name), model="answers",
                            data={"bigcodebench_hard": str(HARD)},
                            sandbox=SandboxConfig(workers=2, timeout_per_program_s=8.0), progress=False)
        outcome = evaluate(config, backend=backend)  # type: ignore[arg-type]  # a duck-typed double
        assert len(backend.prompts) == len(rows)
        bench = outcome.summary.benchmarks[0]
        statuses: dict[str, int] = {}
        for result in outcome.out.read_results():
            statuses[result.status] = statuses.get(result.status, 0) + 1
        assert statuses == expected, name
        assert bench.pass_at_k[1] == pytest.approx(expected.get("passed", 0) / len(rows))
