"""pgrpo's own JSONL format: exact round trip, validation errors, the generated JSON schema,
`pgrpo data convert|inspect`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from pgrpo.data import CallCase, Problem, TestKind, Tests, load_problems, problem_from_dict, problem_to_dict
from pgrpo.data.io import read_jsonl
from pgrpo.data.schema import problem_schema
from pgrpo.errors import DataError

FIXTURE_FILES = ["humaneval_mini.jsonl", "evalplus_mbpp_hub_mini.jsonl", "evalplus_humaneval_mini.jsonl", "evalplus_mbpp_mini.jsonl",
                 "mbpp_mini.jsonl", "mbpp_sanitized_mini.json", "lcb_mini.jsonl", "apps_mini.jsonl",
                 "taco_mini.jsonl"]


def _through_json(problem: Problem) -> Problem:
    return problem_from_dict(json.loads(json.dumps(problem_to_dict(problem))))


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_every_format_round_trips_exactly(name, data_file):
    for problem in load_problems(data_file(name)):
        assert _through_json(problem) == problem


def test_packaged_humaneval_converts_and_validates(tmp_path, cli):
    out = tmp_path / "he.jsonl"
    assert cli(["data", "convert", "humaneval", "--out", str(out)]) == 0
    records = read_jsonl(out)
    assert len(records) == 164
    assert [problem_from_dict(r, where="he") for r in records] == load_problems("humaneval")
    assert load_problems(str(out)) == load_problems("humaneval")


def test_python_values_keep_their_types():
    problem = Problem(
        task_id="x/1", statement="s", entry_point="f", contest_date=dt.date(2024, 2, 29), difficulty="easy",
        tests=Tests(kind=TestKind.CALL, call_cases=(CallCase(((1, 2), {3}, [4.5, None]), ("a", [True])),),
                    atol=1e-6, class_name="Solution"),
        metadata={"nested": {"t": (1,)}, "n": 2},
    )
    data = problem_to_dict(problem)
    assert data["contest_date"] == "2024-02-29"
    assert data["tests"]["call_cases"][0]["inputs"][0] == {"__tuple__": [1, 2]}
    back = _through_json(problem)
    assert back == problem
    assert isinstance(back.tests.call_cases[0].inputs[1], set) and isinstance(back.metadata["nested"]["t"], tuple)
    with pytest.raises(DataError, match=r"problem x/2: field 'tests.call_cases\[0\].output'"):
        problem_to_dict(Problem(task_id="x/2", statement="", tests=Tests(
            kind=TestKind.CALL, call_cases=(CallCase((), output=object()),))))


def test_empty_primary_field_still_validates_and_null_means_default():
    problem = Problem(task_id="e", statement="", tests=Tests(kind=TestKind.STDIO))
    data = problem_to_dict(problem)
    assert data["tests"] == {"kind": "stdio", "stdio_cases": []}
    assert problem_from_dict(data) == problem
    assert problem_from_dict({**data, "starter_code": None, "metadata": None}) == problem


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("statement"), "field 'statement' is missing"),
    (lambda d: d.update(statment="typo"), "field 'statment' is not a known field"),
    (lambda d: d["tests"].update(kind="pytest"), "field 'tests.kind' must be 'humaneval', 'asserts', 'call', "
                                                 "'stdio' or 'unittest', got str 'pytest'"),
    (lambda d: d["tests"]["asserts"].append(3), r"field 'tests.asserts\[2\]' must be a valid string, got int 3"),
    (lambda d: d["tests"].update(call_cases=[{"input": []}]), r"field 'tests.call_cases\[0\].inputs' is missing"),
    (lambda d: d["tests"].update(stdio_cases=[{"stdin": "", "stdout": "", "x": 1}]),
     r"field 'tests.stdio_cases\[0\].x' is not a known field \(known: stdin, stdout\)"),
    (lambda d: d.update(contest_date="May 1st"), "field 'contest_date' is not an ISO date"),
    (lambda d: d.update(difficulty=1), "field 'difficulty' must be a valid string, got int 1"),
    (lambda d: d.update(task_id="  "), "field 'task_id' must be a non-empty string"),
    (lambda d: d["tests"].pop("asserts"), r"field 'tests.asserts' is missing \(a 'asserts' test suite is defined by it\)"),
    (lambda d: d.update(metadata={"s": {"__set__": [[1, 2]]}}),
     r"field 'metadata.s': a __set__ item must be hashable, got list"),
])
def test_pgrpo_format_errors_name_line_and_field(tmp_path, data_file, mutate, message):
    problems = load_problems(data_file("mbpp_mini.jsonl"))
    dicts = [problem_to_dict(p) for p in problems]
    mutate(dicts[1])
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in dicts))
    with pytest.raises(DataError, match=rf"p\.jsonl:2: {message}"):
        load_problems(str(path), format="pgrpo")


def test_schema_is_generated_from_the_problem_dataclasses():
    schema = problem_schema()
    assert list(schema["properties"]) == [f.name for f in dataclasses.fields(Problem)]
    assert schema["required"] == ["task_id", "statement", "tests"] and schema["additionalProperties"] is False
    tests = schema["$defs"]["Tests"]
    assert list(tests["properties"]) == [f.name for f in dataclasses.fields(Tests)] and tests["required"] == ["kind"]
    assert schema["$defs"]["TestKind"]["enum"] == [k.value for k in TestKind]
    assert schema["$defs"]["StdioCase"]["required"] == ["stdin", "stdout"]


def test_cli_convert_and_inspect(tmp_path, data_file, capsys, cli):
    out = tmp_path / "lcb.jsonl"
    assert cli(["data", "convert", data_file("lcb_mini.jsonl"), "--out", str(out),
                 "--start-date", "2024-01-01"]) == 0
    assert [r["task_id"] for r in read_jsonl(out)] == ["3001", "3100"]
    capsys.readouterr()
    assert cli(["data", "inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 problems" in text and "livecodebench" in text and "medium" in text and "call" in text
    assert '"task_id": "3001"' in text
    assert cli(["data", "inspect", data_file("mbpp_mini.jsonl"), "--format", "bogus"]) == 2
    assert "known formats" in capsys.readouterr().err


def test_failed_convert_keeps_previous_output(tmp_path, cli, lcb, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    evil = lcb.write(tmp_path / "lcb.jsonl", [lcb.row("ok_1"), lcb.row("bad_2", question_content=None)])
    assert cli(["data", "convert", evil, "--out", str(out)]) == 2
    assert "lcb.jsonl:2: field 'question_content' is null" in capsys.readouterr().err
    assert out.read_text() == "previous\n" and not (tmp_path / "out.jsonl.tmp").exists()
    assert cli(["data", "convert", evil, "--out", str(out), "--skip-bad"]) == 0
    assert [r["task_id"] for r in read_jsonl(out)] == ["ok_1"]


def test_docs_example_is_valid():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "problem-format.md").read_text()
    match = re.search(r"## Example\n\n```json\n(.*?)```", doc, re.S)
    assert match, "docs/problem-format.md has no ## Example json block"
    example = json.loads(match.group(1))
    assert problem_from_dict(example).tests.count == 2
