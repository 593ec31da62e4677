"""One BigCodeBench response gets one verdict: in training (the reward `pgrpo train` computes) and in
`pgrpo evaluate` (check_samples), with a local sandbox pool and with a `pgrpo sandbox serve` service.

The response needs ~4.6 s: longer than SandboxConfig's default per-test limit (4 s), within the
"unittest" kind's own (BigCodeBench's 241 s), so it passes only where the kind's limits apply.
Every caller and every sandbox computes them with `pgrpo.sandbox.kinds.effective_limits`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrpo.data.problem import TestKind
from pgrpo.evaluation.benchmarks import load_benchmark
from pgrpo.evaluation.records import OutputDir, SampleRecord
from pgrpo.evaluation.runner import check_samples, whitespace_counter
from pgrpo.sandbox.kinds import SPECS, effective_limits
from pgrpo.sandbox.service import BackgroundService
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.train.config import DataSection, ModelSection, RewardSection, TrainConfig
from pgrpo.train.runner import reward_evaluator
from pgrpo.train.tasks import load_targets, make_verifier

FULL = Path(__file__).resolve().parents[1] / "fixtures" / "bigcodebench" / "bigcodebench.jsonl"
TASK = "BigCodeBench/9007"  # one test: task_func() == 'done'
SLOW = "import time\ndef task_func(seconds=60):\n    time.sleep(4.6)\n    return 'done'\n"
RESPONSE = f"<think>wait a little</think>\n<answer>\n```python\n{SLOW}```\n</answer>"


def _train_passed(sandbox: SandboxConfig, tmp_path: Path) -> bool:
    config = TrainConfig(output_dir=str(tmp_path / "train"), model=ModelSection(build_tiny=True),
                         data=DataSection(source=str(FULL), allow_unittest=True),
                         reward=RewardSection(mode="outcome"), sandbox=sandbox)
    targets = load_targets(config)
    with make_verifier(config) as verifier:
        rewards, _ = reward_evaluator(config, targets, verifier, None, group_size=1).evaluate([TASK], [RESPONSE])
    return rewards.column("outcome") == [1.0]


def _eval_passed(sandbox: SandboxConfig, tmp_path: Path) -> bool:
    (task,) = [t for t in load_benchmark("bigcodebench", data={"bigcodebench": str(FULL)}) if t.task_id == TASK]
    sample = SampleRecord("bigcodebench", TASK, 0, [], RESPONSE)
    (record,) = check_samples([(task, sample)], OutputDir(tmp_path / "eval"), whitespace_counter(), sandbox,
                              progress=False)
    return record.passed


def test_the_response_needs_the_kinds_limits():
    default = SandboxConfig(workers=1)
    assert default.timeout_per_test_s < 4.6 < effective_limits(default, TestKind.UNITTEST)["timeout_per_test_s"]
    own = SPECS[TestKind.UNITTEST].limits
    assert own is not None and effective_limits(default, TestKind.UNITTEST)["timeout_per_program_s"] == own.timeout_s


@pytest.mark.sandbox
@pytest.mark.slow
def test_one_response_one_verdict_in_training_and_evaluation_local_and_served(tmp_path):
    local = SandboxConfig(workers=1)
    verdicts = {"train local": _train_passed(local, tmp_path / "a"), "evaluate local": _eval_passed(local, tmp_path / "b")}
    own = SPECS[TestKind.UNITTEST].limits
    assert own is not None
    ceiling = SandboxConfig.given(workers=1, timeout_per_test_s=own.timeout_s, timeout_per_program_s=own.timeout_s,
                                  memory_mb=own.memory_mb, scratch_mb=own.scratch_mb)
    with BackgroundService(ceiling) as service:
        served = SandboxConfig(workers=1, url=service.url)
        verdicts["train served"] = _train_passed(served, tmp_path / "c")
        verdicts["evaluate served"] = _eval_passed(served, tmp_path / "d")
    assert verdicts == dict.fromkeys(verdicts, True)
