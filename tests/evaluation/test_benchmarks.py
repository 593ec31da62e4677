"""Benchmark registry: sources, --data overrides, file:PATH, offline errors, LCB filtering."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import (
    BENCHMARKS,
    load_benchmark,
    parse_data_overrides,
    resolve_spec,
    task_messages,
)

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures", "evaluation")
LCB = os.path.join(FIX, "lcb_tiny.jsonl")


def test_registry_has_the_paper_benchmarks():
    for name in ("humaneval", "humaneval_plus", "mbpp", "mbpp_plus", "lcb", "math500", "aime24", "minerva"):
        assert name in BENCHMARKS
    assert BENCHMARKS.get("math500").kind == "math" and BENCHMARKS.get("lcb").kind == "code"


def test_humaneval_is_offline_and_prompts_render():
    tasks = load_benchmark("humaneval", limit=3)
    assert [t.task_id for t in tasks] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    pgrpo_msgs = task_messages(tasks[0], "pgrpo")
    plain_msgs = task_messages(tasks[0], "plain")
    assert "has_close_elements" in pgrpo_msgs[-1]["content"]
    assert "<think>" in " ".join(m["content"] for m in pgrpo_msgs)
    assert pgrpo_msgs != plain_msgs
    assert len(load_benchmark("humaneval")) == 164


@pytest.mark.parametrize("name", ["humaneval_plus", "math500"])
def test_hub_benchmarks_offline_say_to_pass_data(name):
    # conftest sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE: the hub is never contacted.
    with pytest.raises(PgrpoError, match=rf"--data {name}=PATH"):
        load_benchmark(name, limit=1)


def test_data_overrides_and_unknown_names():
    assert parse_data_overrides(["lcb=/x/y.jsonl", "math500 = a.json"]) == {"lcb": "/x/y.jsonl", "math500": "a.json"}
    with pytest.raises(PgrpoError, match="NAME=PATH"):
        parse_data_overrides(["lcb"])
    with pytest.raises(PgrpoError, match="unknown benchmark 'nope'"):
        parse_data_overrides(["nope=a"])
    with pytest.raises(PgrpoError, match="file:PATH"):
        resolve_spec("nope")
    with pytest.raises(PgrpoError, match="file not found"):
        resolve_spec("file:/does/not/exist.jsonl")


def test_file_benchmark_detects_kind():
    assert resolve_spec(f"file:{LCB}").kind == "code"
    assert resolve_spec(f"file:{os.path.join(FIX, 'math_tiny.jsonl')}").kind == "math"
    assert resolve_spec(f"file:{os.path.join(FIX, 'aime_tiny.json')}").kind == "math"
    tasks = load_benchmark(f"file:{LCB}")
    assert len(tasks) == 6 and tasks[0].benchmark == f"file:{LCB}"


def test_lcb_date_and_difficulty_filtering_on_fixture():
    data = {"lcb": LCB}
    all_tasks = load_benchmark("lcb", data=data)
    assert len(all_tasks) == 6
    windowed = load_benchmark("lcb", data=data, options={"start_date": "2024-08-01", "end_date": "2024-12-31"})
    assert [t.task_id for t in windowed] == ["lcb2", "lcb3"]
    assert all(t.contest_date is not None and dt.date(2024, 8, 1) <= t.contest_date <= dt.date(2024, 12, 31)
               for t in windowed)
    hard = load_benchmark("lcb", data=data, options={"difficulty": "hard"})
    assert {t.task_id for t in hard} == {"lcb5", "lcb6"} and {t.difficulty for t in hard} == {"hard"}
    with pytest.raises(PgrpoError, match="no problems"):
        load_benchmark("lcb", data=data, options={"start_date": "2030-01-01"})


def test_mbpp_uses_base_tests_and_mbpp_plus_all_tests():
    path = os.path.join(FIX, "evalplus_tiny.jsonl")
    base = load_benchmark("mbpp", data={"mbpp": path})[0]
    plus = load_benchmark("mbpp_plus", data={"mbpp_plus": path})[0]
    assert base.problem is not None and plus.problem is not None
    assert len(base.problem.tests.call_cases) == 2  # base_input only (EvalPlus "base")
    assert len(plus.problem.tests.call_cases) == 5  # base + plus inputs
    assert base.task_id == plus.task_id == "Mbpp/2"


def test_a_plugins_benchmark_resolves_outside_the_cli(monkeypatch):
    """`evaluate()` called from Python finds a benchmark a plugin registers (the CLI loads plugins at
    start)."""
    from pgrpo import registry
    from pgrpo.evaluation.benchmarks import BenchmarkSpec

    spec = BenchmarkSpec("plugin_set", "code", "org/plugin-set", "a plugin's set")
    monkeypatch.setattr(registry, "load_plugins",
                        lambda: monkeypatch.setitem(BENCHMARKS._items, spec.name, spec))
    assert resolve_spec("plugin_set") is spec
    assert parse_data_overrides(["plugin_set=a.jsonl"]) == {"plugin_set": "a.jsonl"}
