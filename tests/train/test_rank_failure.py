"""All ranks stop together: a reward failure on one rank is an error on every rank at the same step.

The first reward function sends either its stats or its error in the step's one gather
(`pgrpo.train.trl_hooks.RankReport`); these tests play the other rank with a fake gather, then
run the real collective on two gloo processes where only rank 1's reward model fails. The same
two processes check the start-up agreement (`pgrpo.train.distributed.agree`).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from loopback import free_port
from pgrpo.data.math import MathProblem
from pgrpo.rewards.batch import BatchStats, RewardEvaluator
from pgrpo.rm.client import RMServiceError
from pgrpo.train.trl_hooks import RankReport, RewardStepError, make_reward_funcs
from pgrpo.verify import Verdict

URL = "http://10.0.0.7:8767"
OK = Verdict(True, "passed", 1.0, True, "reasoning", "", "")


def evaluator(thinking) -> RewardEvaluator:
    return RewardEvaluator({"a": MathProblem("a", "statement", "")}, lambda items: [OK for _ in items], thinking,
                           mode="additive", group_size=2)


def healthy(queries):
    return [0.5] * len(queries)


def unreachable(queries):
    raise RMServiceError(f"reward-model service {URL} failed after 3 attempts (2.0s): {URL}: ConnectError")


def other_rank_stats() -> dict:
    ev = evaluator(healthy)
    ev.evaluate(["a", "a"], ["x", "y"])
    assert ev.last is not None
    return ev.last.stats.to_dict()


def call_first(ev: RewardEvaluator, gather, step: int = 6):
    return make_reward_funcs(ev, gather)[0](completions=["x", "y"], task_id=["a", "a"],
                                            trainer_state=SimpleNamespace(global_step=step))


def test_another_ranks_failure_stops_this_healthy_rank_naming_rank_and_url():
    failed = RankReport(None, f"RMServiceError: reward-model service {URL} failed").to_wire()
    sent = []

    def gather(value):
        sent.append(value)
        return [value, failed]

    ev = evaluator(healthy)
    with pytest.raises(RewardStepError) as info:
        call_first(ev, gather)
    message = str(info.value)
    assert "at step 7" in message and "1 of 2 ranks failed" in message
    assert f"rank 1: RMServiceError: reward-model service {URL}" in message and "rank 0" not in message
    assert len(sent) == 1 and ev.last is not None
    assert BatchStats.from_dict(sent[0]) == ev.last.stats  # this rank still sent its stats


def test_this_ranks_failure_is_sent_to_the_others_before_it_raises():
    sent = []

    def gather(value):
        sent.append(value)
        return [value, other_rank_stats()]

    with pytest.raises(RewardStepError) as info:
        call_first(evaluator(unreachable), gather)
    assert len(sent) == 1 and RankReport.from_wire(sent[0]).error is not None  # took part in the gather
    assert URL in sent[0]["error"] and sent[0]["error"].startswith("RMServiceError: ")
    assert f"rank 0: RMServiceError: reward-model service {URL}" in str(info.value)
    assert isinstance(info.value.__cause__, RMServiceError)


def test_ranks_failing_alike_are_named_once():
    def gather(value):
        return [value, other_rank_stats(), value]  # ranks 0 and 2 cannot reach the same URL

    with pytest.raises(RewardStepError) as info:
        call_first(evaluator(unreachable), gather)
    assert "2 of 3 ranks failed): ranks 0, 2: RMServiceError: " in str(info.value)
    assert str(info.value).count(URL) == 2  # one entry (whose error names the URL twice), not two


def test_a_score_outside_0_1_names_the_item_on_every_rank():
    def gather(value):
        return [other_rank_stats(), value]

    with pytest.raises(RewardStepError) as info:
        call_first(evaluator(lambda qs: [1.5] * len(qs)), gather)
    assert "rank 1: ValueError: thinking score must be in [0, 1], got 1.5 for 'a'" in str(info.value)


def test_healthy_ranks_log_global_metrics_and_return_rewards():
    logged: dict[str, float] = {}
    funcs = make_reward_funcs(evaluator(healthy), lambda v: [v, other_rank_stats()])
    rewards = [f(completions=["x", "y"], task_id=["a", "a"], log_metric=logged.__setitem__) for f in funcs]
    assert rewards == [[1.0, 1.0], [1.0, 1.0], [0.5, 0.5]]
    assert logged["outcome/completions"] == 4.0


def test_rank_report_round_trips():
    stats = BatchStats.from_dict(other_rank_stats())
    assert RankReport.from_wire(RankReport(stats).to_wire()) == RankReport(stats)
    assert RankReport.from_wire(RankReport(None, "boom").to_wire()) == RankReport(None, "boom")


def _worker(rank: int, port: int, out: str) -> None:
    import datetime
    import os
    import time

    import torch.distributed as dist

    from pgrpo import errors
    from pgrpo.train import distributed
    from pgrpo.train.distributed import gather_json

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
    # A short collective timeout: if the healthy rank waited for a report that never comes, it
    # would fail with gloo's timeout (no rank and no URL) instead of RewardStepError.
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))
    start = time.monotonic()
    try:
        funcs = make_reward_funcs(evaluator(unreachable if rank == 1 else healthy), gather_json)
        try:
            funcs[0](completions=["x", "y"], task_id=["a", "a"], trainer_state=SimpleNamespace(global_step=0))
            result: dict[str, Any] = {"raised": None}
        except Exception as exc:  # recorded for the test to inspect
            result = {"raised": type(exc).__name__, "message": str(exc)}
        result["seconds"] = time.monotonic() - start
        try:  # the start-up agreement (pgrpo.train.runner.agreed_verifier): the same, outside the reward path
            distributed.agree("checking the services", ConnectionError(URL) if rank == 1 else None)
            result["agreed"] = None
        except errors.RankFailure as exc:
            result["agreed"] = str(exc)
        # The local jail: rank 1's cannot start (bwrap demanded, none on its PATH); rank 0's can.
        from pgrpo.sandbox import SandboxConfig
        from pgrpo.train.runner import agreed_verifier

        if rank == 1:
            os.environ["PATH"] = "/nonexistent"
        sandbox = SandboxConfig(workers=1, isolation="bwrap" if rank == 1 else "none")
        config = SimpleNamespace(task="code", sandbox=sandbox, data=SimpleNamespace(think_prefilled=False))
        try:
            agreed_verifier(config).close()  # type: ignore[arg-type]
            result["jail"] = None
        except errors.RankFailure as exc:
            result["jail"] = str(exc)
        with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
            json.dump(result, handle)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters importing torch: ~15 s on 2 cores
def test_both_gloo_ranks_raise_at_the_same_step_when_one_rm_is_unreachable(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(_worker, args=(free_port(), str(tmp_path)), nprocs=2,  # type: ignore[attr-defined]
                       start_method="spawn")
    results = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for got in results:
        assert got["raised"] == "RewardStepError", got
        assert "at step 1" in got["message"] and f"rank 1: RMServiceError: reward-model service {URL}" in got["message"]
        assert got["seconds"] < 30  # not a collective timeout
    assert results[0]["message"] == results[1]["message"]
    for got in results:
        assert got["agreed"] == f"checking the services failed on 1 of 2 ranks, so every rank stops: rank 1: " \
                                f"ConnectionError: {URL}"
        assert got["jail"].startswith("starting the sandbox failed on 1 of 2 ranks, so every rank stops: rank 1: "
                                      "IsolationError: "), got["jail"]
        assert "bwrap" in got["jail"]


def test_agree_in_one_process_raises_its_own_error():
    from pgrpo.train.distributed import agree

    agree("nothing", None)
    with pytest.raises(RMServiceError, match="unreachable"):
        agree("checking the services", RMServiceError("unreachable"))
