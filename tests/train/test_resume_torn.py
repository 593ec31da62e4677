"""`pgrpo train` resumes from the newest *complete* checkpoint (slow, about half a minute).

recipes/tiny-cpu.yaml (outcome mode, a locally built tiny policy, no RM) trains two steps and
saves checkpoint-1 and checkpoint-2; checkpoint-2 is then torn (no trainer_state.json; a
truncated model.safetensors), as a kill mid-save leaves it, and the run is restarted for three
steps: it says it skipped checkpoint-2 and why, resumes from checkpoint-1, and metrics.jsonl /
samples.jsonl hold steps 1, 2, 3 exactly once each.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from pgrpo.train.checkpoints import checkpoint_problem

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny-cpu.yaml"
TINY_DATA = str(ROOT / "recipes" / "data" / "tiny-humaneval.jsonl")

pytestmark = pytest.mark.slow


def _train(out: Path, policy: str, steps: int):
    from pgrpo.train.config import load_train_config
    from pgrpo.train.runner import run_training

    config = load_train_config(TINY, [
        f"output_dir={out}", f"data.source={TINY_DATA}", "reward.mode=outcome", "reward.build_tiny_rm=false",
        "model.build_tiny=false", "model.format_warmup_steps=0", f"model.path={policy}",
        f"grpo.max_steps={steps}", "grpo.save_steps=1", "grpo.report_to=none", "sandbox.workers=1"])
    return run_training(config)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory, tiny_policy_path) -> Path:
    out = tmp_path_factory.mktemp("resume") / "base"
    result = _train(out, tiny_policy_path, 2)
    assert result.global_step == 2 and result.resumed_from is None
    for step in (1, 2):
        assert checkpoint_problem(out / f"checkpoint-{step}") is None
    return out


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("tear, reason", [
    (lambda c: (c / "trainer_state.json").unlink(), "no trainer_state.json"),
    (lambda c: _truncate(c / "model.safetensors"), "model.safetensors is"),
], ids=["no-trainer-state", "truncated-weights"])
def test_resume_skips_a_torn_newest_checkpoint(two_steps, tiny_policy_path, tmp_path, capsys, tear, reason) -> None:
    out = tmp_path / "run"
    shutil.copytree(two_steps, out)
    tear(out / "checkpoint-2")
    capsys.readouterr()

    result = _train(out, tiny_policy_path, 3)

    err = capsys.readouterr().err
    assert f"skipping incomplete checkpoint {out / 'checkpoint-2'}: {reason}" in err, err[-3000:]
    assert f"resuming from {out / 'checkpoint-1'}" in err
    assert result.resumed_from == str(out / "checkpoint-1") and result.global_step == 3
    steps = [r["step"] for r in _rows(out / "metrics.jsonl") if not r.get("summary")]
    assert steps == [1, 2, 3]  # step 2 of the first run was trimmed with the torn checkpoint
    samples = _rows(out / "samples.jsonl")
    assert {r["step"] for r in samples} == {1, 2, 3}
    assert max(Counter((r["step"], r["rank"], r["index"]) for r in samples).values()) == 1
    assert checkpoint_problem(out / "checkpoint-2") is None  # rewritten whole by the resumed run
    assert json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())["global_step"] == 3
