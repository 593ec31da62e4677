"""Global metrics, rank-tagged samples and the resume broadcast, without a trainer.

The collective itself (`gather_json`) runs on two real gloo processes; the rest uses a fake
gather that plays the other rank.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from loopback import free_port
from pgrpo.data.math import MathProblem
from pgrpo.rewards.batch import BatchStats, RewardEvaluator, global_metrics
from pgrpo.train.trl_hooks import SamplesCallback, make_reward_funcs, trim_log
from pgrpo.verify import Verdict


def stats(n, passed, scored, sandbox_s, rm_s, timeouts=0, truncated=0, groups=1, zero=0):
    return BatchStats(n=n, passed=passed, pass_fraction_sum=float(passed), rm_scored=scored,
                      raw_thinking_sum=0.5 * scored, rm_truncated=truncated, timeouts=timeouts, groups=groups,
                      zero_std_groups=zero, zero_std_groups_no_thinking=zero, outcome_seconds=sandbox_s,
                      rm_seconds=rm_s)


def test_global_metrics_are_totals_rates_and_max_mean_times():
    got = global_metrics([stats(4, 4, 4, 1.0, 0.2, timeouts=0, truncated=1, zero=1),
                          stats(12, 3, 3, 3.0, 0.6, timeouts=2, truncated=2, groups=3)])
    assert got["outcome/completions"] == 16
    assert got["outcome/pass_rate"] == pytest.approx(7 / 16)  # not the mean of 1.0 and 0.25
    assert got["thinking/rm_scored"] == 7 and got["thinking/rm_truncated"] == 3 and got["sandbox/timeouts"] == 2
    assert got["time/sandbox_s_max"] == 3.0 and got["time/sandbox_s_mean"] == 2.0
    assert got["time/rm_s_max"] == 0.6 and got["time/rm_s_mean"] == pytest.approx(0.4)
    assert got["gate/frac_zero_std_groups"] == pytest.approx(1 / 4)
    assert got["thinking/raw_score_mean"] == 0.5
    assert "thinking/raw_score_mean" not in global_metrics([stats(2, 0, 0, 0.1, 0.0, groups=0)])
    assert "gate/frac_zero_std_groups" not in global_metrics([stats(2, 0, 0, 0.1, 0.0, groups=0)])
    with pytest.raises(ValueError):
        global_metrics([])


VERDICTS = {"ok": Verdict(True, "passed", 1.0, True, "good", "", ""),
            "slow": Verdict(False, "timeout", 0.0, True, "slow", "", "")}


def evaluator(truncations=None):
    return RewardEvaluator({"a": MathProblem("a", "s", "")}, lambda items: [VERDICTS[c] for _, c in items],
                           lambda qs: [0.5] * len(qs), group_size=2,
                           rm_truncated=(lambda: truncations[0]) if truncations is not None else None)


def test_reward_funcs_log_the_global_stats_of_all_ranks():
    other = stats(2, 0, 0, 9.0, 0.0, timeouts=2).to_dict()  # what rank 1 sends
    calls = []

    def gather(value):
        calls.append(value)
        return [value, other]

    count = [0]
    ev = evaluator(count)
    original = ev.thinking_fn

    def truncating(queries):
        count[0] += 1  # the RM cut one item
        return original(queries)

    ev.thinking_fn = truncating
    logged: dict[str, float] = {}
    funcs = make_reward_funcs(ev, gather)
    for f in funcs:
        f(completions=["ok", "slow"], task_id=["a", "a"], log_metric=logged.__setitem__)
    assert len(calls) == 1  # one collective per step, by the first function
    assert BatchStats.from_dict(calls[0]) == ev.last.stats
    assert logged["outcome/completions"] == 4 and logged["outcome/pass_rate"] == 0.25
    assert logged["sandbox/timeouts"] == 3 and logged["thinking/rm_truncated"] == 1
    assert logged["time/sandbox_s_max"] == 9.0
    # The cached batch comes back on a later step: still gathered (every rank must take part).
    funcs[0](completions=["ok", "slow"], task_id=["a", "a"])
    assert len(calls) == 2


def test_samples_from_every_rank_written_by_rank_zero_and_trimmed(tmp_path):
    path = tmp_path / "samples.jsonl"
    ev = evaluator()
    ev.evaluate(["a", "a"], ["ok", "slow"])
    remote = [{"step": 1, "index": 0, "task_id": "a", "completion": "far", "total": 0.0}]
    asked = []

    def gather(rows):
        asked.append(rows)
        return [rows, remote]

    main = SamplesCallback(ev, path, every=1, num_samples=1, gather=gather)
    main.on_step_end(None, SimpleNamespace(global_step=1, is_world_process_zero=True), None)
    other = SamplesCallback(ev, tmp_path / "other.jsonl", every=1, num_samples=1, gather=gather)
    other.on_step_end(None, SimpleNamespace(global_step=1, is_world_process_zero=False), None)
    assert len(asked) == 2 and not (tmp_path / "other.jsonl").exists()  # gathers, never writes
    main.on_step_end(None, SimpleNamespace(global_step=2, is_world_process_zero=True), None)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["step"], r["rank"], r["completion"]) for r in rows] == [(1, 0, "ok"), (1, 1, "far"), (2, 0, "ok"),
                                                                        (1, 1, "far")]
    assert rows[0]["index"] == 0 and rows[0]["status"] == "passed"
    assert trim_log(path, 1) == 3
    assert trim_log(tmp_path / "missing.jsonl", 1) == 0


def _worker(rank: int, port: int, out: str) -> None:
    import os

    import torch.distributed as dist

    from pgrpo import errors
    from pgrpo.train import distributed

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        result = {
            "gathered": distributed.gather_json({"rank": rank, "text": "é" * (rank * 3)}),
            "empty": distributed.gather_json([] if rank else [1, 2]),
            "broadcast": distributed.gather_json(f"checkpoint-{rank}")[0],
            "rank": distributed.rank(),
        }
        marker = os.path.join(out, "built")

        def build() -> bool:
            if rank == 0:
                with open(marker, "w") as handle:
                    handle.write("x")
            return os.path.exists(marker)  # rank 1 runs after rank 0

        result["saw_marker"] = distributed.first_per_node_then_rest("building", build)
        ran = os.path.join(out, f"ran{rank}")

        def fails_on_the_first_rank() -> None:
            open(ran, "w").close()
            if rank == 0:
                raise OSError("disk full")

        try:
            distributed.first_per_node_then_rest("building the models", fails_on_the_first_rank)
        except errors.RankFailure as exc:
            result["first_failed"] = str(exc)
        result["rest_ran"] = os.path.exists(os.path.join(out, "ran1"))  # must not: the first rank failed
        with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
            json.dump(result, handle)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters importing torch: ~14 s on 2 cores
def test_gather_json_on_two_gloo_ranks(tmp_path):
    import torch.multiprocessing as mp

    from pgrpo.train.distributed import gather_json

    assert gather_json({"x": 1}) == [{"x": 1}]  # one process
    mp.start_processes(_worker, args=(free_port(), str(tmp_path)), nprocs=2,  # type: ignore[attr-defined]
                       start_method="spawn")
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["gathered"] == [{"rank": 0, "text": ""}, {"rank": 1, "text": "ééé"}]
        assert got["empty"] == [[1, 2], []]
        assert got["broadcast"] == "checkpoint-0" and got["rank"] == rank
        assert got["saw_marker"] is True
        assert got["first_failed"] == ("building the models (each node's first rank) failed on 1 of 2 ranks, so "
                                       "every rank stops: rank 0: OSError: disk full")
        assert got["rest_ran"] is False
