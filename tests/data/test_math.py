"""Math problems through the data layer's reader: JSON, JSONL(.gz), parquet, and the grader kind."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgrpo.data.math import MathProblem, load_math_problems
from pgrpo.data.problem import Problem
from pgrpo.errors import DataError

ROWS = [{"unique_id": "a", "problem": "1+1?", "answer": "2", "solution": None, "level": None},
        {"unique_id": None, "problem": "2+2?", "answer": None, "solution": "so \\boxed{4}.", "level": "1"}]


def _expected(name: str) -> list[tuple[str, str, str]]:
    return [("a", "1+1?", "2"), (f"{name}/1", "2+2?", "4")]


def test_parquet(tmp_path):
    path = tmp_path / "math.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    problems = load_math_problems(str(path), name="m")
    assert [(p.task_id, p.statement, p.answer) for p in problems] == _expected("m")
    assert problems[1].metadata == {"level": "1"}


def test_json_array_wrapped_object_and_gzipped_jsonl(tmp_path):
    array, wrapped, jsonl = tmp_path / "a.json", tmp_path / "w.json", tmp_path / "l.jsonl.gz"
    array.write_text(json.dumps(ROWS))
    wrapped.write_text(json.dumps({"test": ROWS, "version": "1"}))
    with gzip.open(jsonl, "wt") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in ROWS))
    for path in (array, wrapped, jsonl):
        assert [(p.task_id, p.statement, p.answer) for p in load_math_problems(str(path))] == _expected("math")
    assert len(load_math_problems(str(array), limit=1)) == 1


def test_errors_name_the_record(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[0]) + "\n")
    with pytest.raises(DataError, match="duplicate task id 'a'"):
        load_math_problems(str(path))
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({"problem": "p"}) + "\n")
    with pytest.raises(DataError, match=r"dup.jsonl:2: no gold answer"):
        load_math_problems(str(path))
    with pytest.raises(DataError, match="file not found"):
        load_math_problems(str(tmp_path / "missing.jsonl"))


def test_kind_picks_the_grader():
    assert (MathProblem.kind, Problem.kind) == ("math", "code")
