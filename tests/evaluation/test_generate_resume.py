"""Generation and the output directory: append-as-you-go, resume after interruption, no duplicates."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import load_benchmark, task_messages
from pgrpo.evaluation.records import OutputDir, RunSettings, SampleRecord
from pgrpo.evaluation.runner import generate_samples, plan_generation
from pgrpo.llm.base import ChatBackend, ChatRequest, ChatResult


class CountingBackend(ChatBackend):
    """Answers every request with numbered texts; can fail on chosen prompts."""

    name = "fake"
    model = "fake-model"
    chunk_size = 2

    def __init__(self, fail_if_contains: str | None = None) -> None:
        self.samples_made = 0
        self.fail_if_contains = fail_if_contains

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        out = []
        for req in requests:
            if self.fail_if_contains and self.fail_if_contains in req.messages[-1]["content"]:
                out.append(ChatResult([], "simulated outage"))
                continue
            texts = [f"sample {self.samples_made + i}" for i in range(req.n)]
            self.samples_made += req.n
            out.append(ChatResult(texts))
        return out


def _settings(n: int = 3) -> RunSettings:
    return RunSettings("fake-model", "fake", "pgrpo", 0.8, 1.0, 16, n, 0)


def _keys(out: OutputDir) -> list[tuple[str, str, int]]:
    return [(json.loads(line)["benchmark"], json.loads(line)["task_id"], json.loads(line)["sample_index"])
            for line in out.samples_path.read_text().splitlines()]


def test_generation_appends_and_resumes_without_duplicates(tmp_path):
    tasks = load_benchmark("humaneval", limit=4)
    out = OutputDir(tmp_path)
    backend = CountingBackend()
    report = generate_samples(tasks, backend, out, _settings(), progress=False)
    assert report.generated == 12 and backend.samples_made == 12
    full = out.samples_path.read_bytes()
    lines = full.splitlines(keepends=True)
    # Simulate a kill: 7 complete lines plus half of the 8th.
    out.samples_path.write_bytes(b"".join(lines[:7]) + lines[7][:20])
    backend2 = CountingBackend()
    with pytest.warns(UserWarning, match="half-written"):
        report2 = generate_samples(tasks, backend2, out, _settings(), progress=False)
    assert report2.already_done == 7 and report2.generated == 5 and backend2.samples_made == 5
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == 12
    assert {k[2] for k in keys} == {0, 1, 2}
    # Nothing left to do: a third run generates nothing.
    backend3 = CountingBackend()
    assert generate_samples(tasks, backend3, out, _settings(), progress=False).generated == 0
    assert backend3.samples_made == 0


def test_failed_requests_are_left_for_the_next_run(tmp_path):
    tasks = load_benchmark("humaneval", limit=3)
    out = OutputDir(tmp_path)
    report = generate_samples(tasks, CountingBackend(fail_if_contains="separate_paren_groups"), out,
                              _settings(1), progress=False)
    assert report.failed_requests == 1 and report.generated == 2
    assert "HumanEval/1" in report.errors[0]
    report2 = generate_samples(tasks, CountingBackend(), out, _settings(1), progress=False)
    assert report2.generated == 1 and report2.already_done == 2


def test_identical_prompts_are_reused_across_benchmarks(tmp_path):
    he = load_benchmark("humaneval", limit=2)
    existing = [SampleRecord("humaneval", t.task_id, 0, task_messages(t, "pgrpo"), f"resp {t.task_id}") for t in he]
    # Same problems under another benchmark name (as HumanEval+ shares HumanEval's prompts).
    other = [type(t)("humaneval_plus", t.task) for t in he]
    pending, copies, done = plan_generation(other, existing, n=2, style="pgrpo")
    assert done == 0 and [(c.benchmark, c.task_id, c.sample_index) for c in copies] == [
        ("humaneval_plus", "HumanEval/0", 0), ("humaneval_plus", "HumanEval/1", 0)]
    assert copies[0].response == "resp HumanEval/0"
    assert [p.indices for p in pending] == [(1,), (1,)]
    # A different prompt style is a different prompt: nothing reused.
    _, copies_plain, _ = plan_generation(other, existing, n=1, style="plain")
    assert copies_plain == []


def test_settings_mismatch_is_refused(tmp_path):
    out = OutputDir(tmp_path)
    out.check_settings(_settings())
    out.append_sample(SampleRecord("humaneval", "HumanEval/0", 0, [], "x"))
    out.check_settings(_settings())  # same settings: fine
    with pytest.raises(PgrpoError, match=r"temperature: 0.8 -> 0.0.*--rescore"):
        out.check_settings(RunSettings("fake-model", "fake", "pgrpo", 0.0, 1.0, 16, 3, 0))
    assert out.read_settings() == _settings()


def test_torn_tail_and_bad_lines(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"task_id": "a", "sample_index": 0, "response": "r"}\n{"task_id": "b", "sam')
    with pytest.warns(UserWarning, match="half-written"):
        out = OutputDir(tmp_path)
    assert out.samples.repaired and path.read_text().count("\n") == 1
    out.prepare_append()  # reread: nothing left to repair
    assert not out.samples.repaired and [s.task_id for s in out.read_samples()] == ["a"]
    path.write_text('{"task_id": "a", "sample_index": 0, "response": "r"}\nnot json\n')
    with pytest.warns(UserWarning, match="skipping"):
        samples = OutputDir(tmp_path).read_samples()
    assert [(s.benchmark, s.task_id) for s in samples] == [("", "a")]
