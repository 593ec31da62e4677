"""docs/ARCHITECTURE.md's "One reward, file by file" is measured, not remembered.

One posterior reward (a passing HumanEval/0 completion and a failing one, a local sandbox, the tiny RM
in process) goes through what TRL calls (`make_reward_funcs`, the rank gather, `MetricsJsonlCallback`)
with a profiler on: the set of src/pgrpo files whose code runs in this process must be exactly the
files the document lists (the value's path plus the input helpers), so the list cannot drift.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from pgrpo.data.loaders import load_problems
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.rm.scoring import RewardScorer
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.train.distributed import gather_json
from pgrpo.train.trl_hooks import MetricsJsonlCallback, make_reward_funcs
from pgrpo.verify import Verifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"
SRC = "src/pgrpo/"


def documented(block: str) -> set[str]:
    """The src/pgrpo files named in the document's marked block `block`."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {block}:begin -->(.*?)<!-- {block}:end -->", text, re.S)
    assert match, f"{DOC}: no <!-- {block}:begin/end --> block"
    return set(re.findall(r"`(src/pgrpo/[\w/]+\.py)`", match.group(1)))


class _State:
    global_step = 1
    epoch = 1.0
    is_world_process_zero = True


@pytest.mark.sandbox
def test_the_documented_reward_path_is_the_code_that_runs(tiny_rm_path: str, tmp_path: Path) -> None:
    problem = load_problems("humaneval", limit=1)[0]
    assert problem.canonical_solution is not None
    code = problem.starter_code + problem.canonical_solution
    passing = f"<think>\nCompare every pair of numbers.\n</think>\n```python\n{code}\n```"
    failing = passing.replace("return True", "return False")
    assert failing != passing
    scorer = RewardScorer(tiny_rm_path, batch_size=4, max_length=256, device="cpu")
    ran: set[str] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        if event == "call" and "/src/pgrpo/" in name:
            ran.add(SRC + name.split("/src/pgrpo/", 1)[1])

    with Verifier(SandboxConfig(workers=1)) as verifier:
        evaluator = RewardEvaluator({problem.task_id: problem}, verifier, scorer.score,
                                    mode="posterior", group_size=2, rm_truncated=lambda: scorer.truncated)
        funcs = make_reward_funcs(evaluator, gather_json)
        callback = MetricsJsonlCallback(tmp_path / "metrics.jsonl")
        for func in funcs:  # warm-up batch: starts the sandbox pool; not traced
            func(completions=["no code", "none"], task_id=[problem.task_id] * 2)
        logged: dict[str, float] = {}
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            columns = [func(completions=[passing, failing], task_id=[problem.task_id] * 2,
                            log_metric=logged.__setitem__) for func in funcs]
            callback.on_log(None, _State(), None, logs={**logged, "reward": sum(columns[0]) / 2})
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
    assert columns[1] == [1.0, 0.0]  # outcome: the passing one passed, the failing one failed
    assert columns[2][0] > 0.0 and columns[2][1] == 0.0  # thinking: gated off for the failing one
    assert logged["outcome/pass_rate"] == 0.5
    assert "outcome/pass_rate" in (tmp_path / "metrics.jsonl").read_text()

    path, helpers = documented("reward-path"), documented("reward-helpers")
    assert path and helpers and not path & helpers
    assert len(path) <= 10, sorted(path)
    assert ran == path | helpers, (f"ran but not documented: {sorted(ran - path - helpers)}; "
                                   f"documented but did not run: {sorted((path | helpers) - ran)}")
