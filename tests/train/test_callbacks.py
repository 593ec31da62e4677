"""metrics.jsonl / samples.jsonl writers and the resume trimming, without a trainer."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pgrpo.data.math import MathProblem
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.train.runner import _checkpoint_step
from pgrpo.train.trl_hooks import MetricsJsonlCallback, SamplesCallback, trim_log
from pgrpo.verify import Verdict


def state(step, main=True):
    return SimpleNamespace(global_step=step, epoch=step / 4, is_world_process_zero=main)


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_metrics_rows_and_resume_trim(tmp_path):
    path = tmp_path / "metrics.jsonl"
    cb = MetricsJsonlCallback(path)
    for step in (1, 2, 3):
        cb.on_log(None, state(step), None, logs={"rewards/format/mean": 0.5 * step, "loss": float("nan")})
    cb.on_log(None, state(3), None, logs={"train_runtime": 1.0})
    cb.on_log(None, state(4, main=False), None, logs={"loss": 1.0})  # other ranks never write
    got = rows(path)
    assert [r["step"] for r in got] == [1, 2, 3, 3]
    assert got[0]["rewards/format/mean"] == 0.5 and got[0]["loss"] is None  # NaN -> null (strict JSON)
    assert got[3]["summary"] is True
    assert trim_log(path, 2) == 2
    assert [r["step"] for r in rows(path)] == [1, 2]
    assert trim_log(tmp_path / "missing.jsonl", 5) == 0
    with path.open("a") as handle:
        handle.write('{"step": 3, "lo')  # killed mid-write
    resumed = MetricsJsonlCallback(path)
    with pytest.warns(UserWarning, match="half-written"):
        resumed.on_log(None, state(3), None, logs={"loss": 2.0})
    assert [(r["step"], r.get("loss")) for r in rows(path)] == [(1, None), (2, None), (3, 2.0)]


def test_checkpoint_step(tmp_path):
    ckpt = tmp_path / "checkpoint-7"
    ckpt.mkdir()
    assert _checkpoint_step(str(ckpt)) == 7
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 6}))
    assert _checkpoint_step(str(ckpt)) == 6


def test_samples_every_n_steps(tmp_path):
    passed = Verdict(True, "passed", 1.0, True, "r", "", "")
    ev = RewardEvaluator({"a": MathProblem("a", "s", "")}, lambda items: [passed] * len(items),
                         lambda qs: [0.5] * len(qs), group_size=2)
    cb = SamplesCallback(ev, tmp_path / "samples.jsonl", every=2, num_samples=1)
    cb.on_step_end(None, state(2), None)  # no batch yet: nothing written
    assert not (tmp_path / "samples.jsonl").exists()
    ev.evaluate(["a", "a"], ["x", "y"])
    for step in (1, 2, 3, 4):
        cb.on_step_end(None, state(step), None)
    got = rows(tmp_path / "samples.jsonl")
    assert [r["step"] for r in got] == [2, 4]
    assert got[0]["completion"] == "x" and got[0]["total"] == 2.5 and got[0]["raw_thinking"] == 0.5
