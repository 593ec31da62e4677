"""Bad input names file, line and field; JSON / JSONL / parquet / gz / hub sources all read."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from pgrpo.data.loaders import detect_format, load_problems
from pgrpo.errors import DataError, PgrpoError

HE_ROW = {"task_id": "T/0", "prompt": "def f(x):\n", "entry_point": "f", "canonical_solution": "    return x\n",
          "test": "def check(candidate):\n    assert candidate(1) == 1\n"}


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = _write(tmp_path / "he.jsonl", [json.dumps(HE_ROW), "", '{"task_id": "T/1", "prompt": '])
    with pytest.raises(DataError, match=r"he\.jsonl:3: invalid JSON"):
        load_problems(path)


def test_missing_field_names_file_line_and_field(tmp_path):
    second = {k: v for k, v in HE_ROW.items() if k != "test"} | {"task_id": "T/1"}
    path = _write(tmp_path / "he.jsonl", [json.dumps(HE_ROW), json.dumps(second)])
    with pytest.raises(DataError, match=r"he\.jsonl:2: field 'test' is missing"):
        load_problems(path, format="humaneval")


def test_wrong_type_names_field(tmp_path):
    path = _write(tmp_path / "he.jsonl", [json.dumps(HE_ROW | {"entry_point": 3})])
    with pytest.raises(DataError, match=r"he\.jsonl:1: field 'entry_point' must be str, got int"):
        load_problems(path)


def test_nested_field_errors(tmp_path, data_file):
    row = json.loads(open(data_file("apps_mini.jsonl")).readline())
    row["input_output"] = '{"inputs": ["1"], "outputs": '
    path = _write(tmp_path / "apps.jsonl", [json.dumps(row)])
    with pytest.raises(DataError, match=r"apps\.jsonl:1: field 'input_output' is not valid JSON"):
        load_problems(path)
    row["input_output"] = json.dumps({"inputs": ["1", "2"], "outputs": ["1"]})
    _write(tmp_path / "apps.jsonl", [json.dumps(row)])
    with pytest.raises(DataError, match=r"field 'input_output' has 2 inputs but 1 outputs"):
        load_problems(path)


def test_unknown_format_lists_known_ones(data_file):
    with pytest.raises(DataError, match="unknown problem format 'nope'; known formats: apps, bigcodebench, codecontests, evalplus, "
                                        "humaneval, lcb, mbpp, pgrpo"):
        load_problems(data_file("mbpp_mini.jsonl"), format="nope")
    assert issubclass(DataError, PgrpoError)


def test_undetectable_records(tmp_path):
    path = _write(tmp_path / "x.jsonl", [json.dumps({"foo": 1, "bar": 2})])
    with pytest.raises(DataError, match=r"x\.jsonl:1: cannot detect the problem format from fields \[bar, foo\]"):
        detect_format(path)
    with pytest.raises(DataError, match="known formats: apps"):
        load_problems(path)


def test_format_override_beats_detection(data_file):
    # an MBPP+ row also has test_list; forcing "mbpp" reads it as plain MBPP asserts
    problems = load_problems(data_file("evalplus_mbpp_mini.jsonl"), format="mbpp", limit=1)
    assert problems[0].tests.kind.value == "asserts" and problems[0].entry_point == "similar_elements"


def test_missing_file_and_bad_options(tmp_path, data_file):
    with pytest.raises(DataError, match="nothere.jsonl: file not found"):
        load_problems(str(tmp_path / "nothere.jsonl"))
    with pytest.raises(DataError, match="unknown load option"):
        load_problems(data_file("lcb_mini.jsonl"), start="2024-01-01")
    with pytest.raises(DataError, match="field 'start_date' is not an ISO date"):
        load_problems(data_file("lcb_mini.jsonl"), start_date="last tuesday")
    with pytest.raises(DataError, match="duplicate task_id 'T/0'"):
        load_problems(_write(tmp_path / "dup.jsonl", [json.dumps(HE_ROW)] * 2))


def test_gzip_and_json_array(tmp_path, data_file):
    gz = tmp_path / "lcb.jsonl.gz"
    with open(data_file("lcb_mini.jsonl"), "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert [p.task_id for p in load_problems(str(gz))] == ["abc310_a", "3001", "3100"]
    array = tmp_path / "apps.json"
    rows = [json.loads(line) for line in open(data_file("apps_mini.jsonl"))]
    array.write_text(json.dumps(rows, indent=1))
    assert [p.task_id for p in load_problems(str(array))] == ["4000", "4001", "4002"]
    rows[1]["question"] = None
    array.write_text(json.dumps(rows, indent=1))
    with pytest.raises(DataError, match=r"apps\.json:2: field 'question' is null"):
        load_problems(str(array))


def test_parquet(tmp_path, data_file):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in open(data_file("lcb_mini.jsonl"))]
    path = tmp_path / "lcb.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    problems = load_problems(str(path), difficulty="medium")
    assert [p.task_id for p in problems] == ["3001"] and problems[0].tests.count == 3
    del rows[2]["question_content"]
    rows[2]["question_content"] = None
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(DataError, match=r"lcb\.parquet:3: field 'question_content' is null"):
        load_problems(str(path))


def test_hub_id_goes_through_datasets_load_dataset(monkeypatch, data_file):
    import datasets

    rows = [json.loads(line) for line in open(data_file("mbpp_mini.jsonl"))]
    calls = []

    def fake_load_dataset(name, split=None, **kwargs):
        calls.append((name, split))
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    problems = load_problems("google-research-datasets/mbpp", split="test")
    assert [p.task_id for p in problems] == ["1", "2"] and calls == [("google-research-datasets/mbpp", "test")]
    assert detect_format("google-research-datasets/mbpp") == "mbpp"
    assert calls[-1] == ("google-research-datasets/mbpp", "test")  # default split


def test_hub_errors_name_the_problem_row(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda name, split=None: [{"problem_id": 1, "question": "q"}])
    with pytest.raises(DataError, match=r"org/apps\[train\]:1: field 'input_output' is missing"):
        load_problems("org/apps", format="apps", split="train")


def test_non_string_difficulty_is_a_named_error():
    from pgrpo.data.loaders import load_problems
    from pgrpo.errors import DataError

    with pytest.raises(DataError, match="option difficulty"):
        load_problems("humaneval", difficulty=[1])
