"""Each public format maps to the normalized Problem as documented."""

from __future__ import annotations

import ast
import datetime as dt

import pytest

from pgrpo.data import CallCase, StdioCase, TestKind, load_problems
from pgrpo.data.loaders import LOADERS, detect_format


def test_registry_has_every_format():
    assert LOADERS.names() == ["apps", "bigcodebench", "codecontests", "evalplus", "humaneval", "lcb", "mbpp", "pgrpo"]


def test_packaged_humaneval_loads_164_offline_with_valid_entry_points():
    problems = load_problems("humaneval")
    assert len(problems) == 164
    assert len({p.task_id for p in problems}) == 164
    assert problems[0].task_id == "HumanEval/0"
    for p in problems:
        assert p.tests.kind is TestKind.HUMANEVAL
        assert "def check(candidate)" in p.tests.test_code
        assert p.entry_point.isidentifier()
        assert p.canonical_solution is not None
        defined = {n.name for n in ast.walk(ast.parse(p.canonical_solution)) if isinstance(n, ast.FunctionDef)}
        assert p.entry_point in defined, p.task_id
        assert p.statement == p.starter_code == p.canonical_solution[: len(p.starter_code)]


def test_humaneval_limit_and_detect(data_file):
    assert [p.task_id for p in load_problems("humaneval", limit=3)] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert detect_format("humaneval") == "humaneval"
    assert detect_format(data_file("humaneval_mini.jsonl")) == "humaneval"


@pytest.mark.parametrize(("name", "expected"), [
    ("evalplus_humaneval_mini.jsonl", "evalplus"), ("evalplus_mbpp_mini.jsonl", "evalplus"),
    ("mbpp_mini.jsonl", "mbpp"), ("mbpp_sanitized_mini.json", "mbpp"), ("lcb_mini.jsonl", "lcb"),
    ("apps_mini.jsonl", "apps"), ("taco_mini.jsonl", "apps"),
])
def test_detect_format(name, expected, data_file):
    assert detect_format(data_file(name)) == expected


def test_humaneval_file(data_file):
    p = load_problems(data_file("humaneval_mini.jsonl"))[0]
    assert (p.task_id, p.entry_point, p.source) == ("HumanEval/0", "add", "humaneval")
    assert p.canonical_solution is not None
    assert p.canonical_solution.endswith("    return a + b\n") and p.canonical_solution.startswith("def add(")


def test_evalplus_humaneval_plus(data_file):
    first, second = load_problems(data_file("evalplus_humaneval_mini.jsonl"))
    assert first.source == "humaneval+" and first.starter_code == first.statement
    assert first.tests.kind is TestKind.CALL and first.tests.outputs_from_canonical
    assert [c.inputs for c in first.tests.call_cases] == [(2, 3), (-1, 1), (1000000, -999999), (0, 0), (7, 8)]
    assert all(c.output is None for c in first.tests.call_cases)
    assert first.metadata["base_count"] == 2
    assert "def check" in first.metadata["test_code"] and "isinstance" in first.metadata["contract"]
    assert first.canonical_solution == first.statement + "    return a + b\n"
    assert first.tests.atol == 0.0 and second.tests.atol == pytest.approx(1e-6)


def test_evalplus_mbpp_plus_has_full_program_and_named_function(data_file):
    with_tests, without_tests = load_problems(data_file("evalplus_mbpp_mini.jsonl"))
    assert with_tests.source == "mbpp+" and with_tests.starter_code == ""
    assert "similar_elements((3, 4, 5, 6),(5, 7, 4, 10))" in with_tests.statement
    assert "shared elements" in with_tests.statement
    assert with_tests.canonical_solution is not None
    assert with_tests.canonical_solution.strip().startswith("def similar_elements")
    assert with_tests.tests.call_cases[0] == CallCase(inputs=([3, 4, 5, 6], [5, 7, 4, 10]))
    assert len(with_tests.tests.call_cases) == 3
    # no test_list: the statement gives the signature instead
    assert "def is_not_prime(n):" in without_tests.statement
    assert without_tests.canonical_solution is not None
    assert "import math" in without_tests.canonical_solution


def test_mbpp_original(data_file):
    first, second = load_problems(data_file("mbpp_mini.jsonl"))
    assert first.task_id == "1" and first.entry_point == "min_cost" and first.source == "mbpp"
    assert first.tests.kind is TestKind.ASSERTS and len(first.tests.asserts) == 2
    assert first.statement.startswith("Write a function to find the minimum cost path")
    assert first.tests.asserts[0] in first.statement and first.tests.asserts[1] not in first.statement
    assert second.tests.setup_code == "import math"
    assert len(second.tests.asserts) == 2  # challenge tests excluded by default
    with_challenge = load_problems(data_file("mbpp_mini.jsonl"), include_challenge_tests=True)[1]
    assert len(with_challenge.tests.asserts) == 3
    assert with_challenge.tests.asserts[-1].startswith("assert similar_elements((11, 12")


def test_mbpp_sanitized_json_array(data_file):
    first, second = load_problems(data_file("mbpp_sanitized_mini.json"))
    assert first.entry_point == "is_not_prime" and first.tests.setup_code == "import math\n"
    assert first.metadata["sanitized"] is True
    assert second.entry_point == "heap_queue_largest"  # found past math.isclose/abs


def test_lcb_stdin_and_functional(data_file):
    stdin, functional, plain = load_problems(data_file("lcb_mini.jsonl"))
    assert stdin.task_id == "abc310_a" and stdin.tests.kind is TestKind.STDIO and stdin.entry_point == ""
    assert stdin.contest_date == dt.date(2023, 7, 15) and stdin.difficulty == "easy"
    assert stdin.public_tests is not None
    assert stdin.public_tests.stdio_cases == (StdioCase("3\n1 2 3\n", "6\n"),)
    assert stdin.tests.stdio_cases[0] == StdioCase("3\n1 2 3\n", "6\n")
    assert StdioCase("2\n-1 1\n", "0\n") in stdin.tests.stdio_cases and stdin.tests.count == 3
    assert stdin.metadata["platform"] == "atcoder" and stdin.source == "livecodebench"

    assert functional.tests.kind is TestKind.CALL and functional.entry_point == "twoSum"
    assert functional.public_tests is not None
    assert functional.tests.class_name == "Solution" and functional.public_tests.class_name == "Solution"
    assert functional.tests.call_cases == (
        CallCase(([2, 7, 11, 15], 9), [0, 1]), CallCase(([3, 2, 4], 6), [1, 2]), CallCase(([3, 3], 6), [0, 1]))
    assert functional.public_tests.count == 1
    # private tests given as plain JSON (some mirrors)
    assert plain.tests.call_cases == (CallCase(("abc",), 3), CallCase(("",), 0))


@pytest.mark.parametrize(("options", "expected"), [
    ({}, ["abc310_a", "3001", "3100"]),
    ({"start_date": "2024-01-14"}, ["3001", "3100"]),
    ({"end_date": "2024-01-14"}, ["abc310_a", "3001"]),
    ({"start_date": "2024-01-15", "end_date": "2024-05-11"}, ["3100"]),
    ({"difficulty": "medium"}, ["3001"]),
    ({"difficulty": ["Easy", "hard"]}, ["abc310_a", "3100"]),
    ({"difficulty": "easy,medium", "start_date": "2024-01-01"}, ["3001"]),
])
def test_lcb_filters(options, expected, data_file):
    assert [p.task_id for p in load_problems(data_file("lcb_mini.jsonl"), **options)] == expected


def test_date_window_drops_undated_problems(data_file):
    assert load_problems(data_file("mbpp_mini.jsonl"), start_date="2000-01-01") == []


def test_apps_stdio_and_call_with_unwrapping(data_file):
    stdio, call, wrapped_pairs = load_problems(data_file("apps_mini.jsonl"))
    assert stdio.task_id == "4000" and stdio.tests.kind is TestKind.STDIO and stdio.source == "apps"
    assert stdio.tests.stdio_cases[1] == StdioCase("10 -3\n", "7\n") and stdio.difficulty == "introductory"
    assert stdio.canonical_solution is not None
    assert stdio.canonical_solution.startswith("a, b = map(int")
    assert call.entry_point == "sum_list" and call.tests.class_name is None
    assert call.tests.call_cases == (CallCase(([1, 2, 3],), 6), CallCase(([],), 0))
    assert wrapped_pairs.tests.call_cases[0].output == [1, 3] and wrapped_pairs.canonical_solution is None


def test_taco_rows(data_file):
    stdio, call = load_problems(data_file("taco_mini.jsonl"))
    assert stdio.task_id == "taco/0" and stdio.source == "taco" and stdio.difficulty == "easy"
    assert stdio.tests.stdio_cases == (StdioCase("ab\ncd", "dc\nba"),)  # line lists joined
    assert call.tests.class_name == "Solution" and call.entry_point == "count"
    assert [c.output for c in call.tests.call_cases] == [2, 0]  # not all wrapped: kept as given


def test_evalplus_hub_mirror_of_mbpp_plus_grades_on_its_script(data_file):
    (problem,) = load_problems(data_file("evalplus_mbpp_hub_mini.jsonl"))
    assert detect_format(data_file("evalplus_mbpp_hub_mini.jsonl")) == "mbpp"
    assert problem.task_id == "2" and problem.source == "mbpp+" and problem.entry_point == "similar_elements"
    assert problem.tests.kind is TestKind.ASSERTS and len(problem.tests.asserts) == 1
    assert "results = [(4, 5), (3, 4), ()]" in problem.tests.asserts[0]
    assert problem.metadata["base_asserts"] == [
        "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"]
    assert "similar_elements((3, 4, 5, 6)" in problem.statement
