"""Two ranks on CPU: `torchrun --nproc_per_node 2 -m pgrpo train` on the tiny recipe (slow).

accelerate runs MULTI_CPU over gloo under torchrun (`accelerate launch --cpu --num_processes 2`
would start one process). The programs go to `pgrpo sandbox serve` and the thinking reward comes
from `pgrpo rm serve` (a tiny untrained RM), both started by the test on free loopback ports
(one service of each for both ranks); the ranks reach the RM through a counting proxy that
records every item it forwards. One module-scoped run is killed once step 4 is logged (a
checkpoint was saved at step 3) and resumed; the tests then read its `metrics.jsonl` /
`samples.jsonl` (every completion of every rank is sampled) and check:
- each step is logged exactly once in both files, with the rows of both ranks;
- the logged reward metrics are the global totals of the sampled completions;
- every completion's rewards equal a single-process `RewardEvaluator` run over the whole step's
  batch (both ranks' slices at once) with the same RM loaded locally and an in-process sandbox
  pool (so served verdicts and scores equal local ones too);
- the RM service received exactly the passing completions of both ranks (the resumed run's
  requests, compared with what the single-process gate asks for the same steps).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny-cpu.yaml"
STEPS, SAVE_EVERY, KILL_AT = 8, 3, 4
RM_MAX_LENGTH = 512  # the recipe's reward.rm_max_length
PER_RANK = 4  # recipe: per_device_train_batch_size 4, num_generations 4 -> one group per rank
OVERRIDES = [f"data.source={ROOT / 'recipes' / 'data' / 'tiny-humaneval.jsonl'}", f"grpo.max_steps={STEPS}",
             f"grpo.save_steps={SAVE_EVERY}", "grpo.save_total_limit=3", "grpo.report_to=none",
             "sandbox.workers=1", "logging.sample_every=1", "logging.num_samples=100"]

pytestmark = pytest.mark.slow


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _torchrun(out: Path, log: Path, services: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "pgrpo", "train", "--config", str(TINY),
           f"output_dir={out}", *OVERRIDES, *services]
    return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _serve(args: list[str]) -> tuple[subprocess.Popen, str]:
    """`python -m pgrpo <args> --port 0` on loopback; (process, the URL it prints once listening)."""
    proc = subprocess.Popen([sys.executable, "-m", "pgrpo", *args, "--host", "127.0.0.1", "--port", "0"],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].split()[0]
    proc.wait()
    raise AssertionError(f"{args[:2]} did not start:\n{''.join(seen)}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every descendant (torchrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        tree.append(todo.pop())
        todo.extend(children[tree[-1]])
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _logged_steps(path: Path) -> set[int]:
    try:
        return {r["step"] for r in _rows(path) if not r.get("summary")}
    except json.JSONDecodeError:  # a line being written right now
        return set()


class CountingProxy:
    """The RM API (`pgrpo.rm.backends`) forwarded to `target`, on a free loopback port in a thread;
    `items` holds every item a score request carried, in arrival order."""

    def __init__(self, target: str) -> None:
        import httpx
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        from pgrpo.rm.backends import HEALTH_PATH, SCORE_PATH

        self.items: list[dict] = []

        async def forward(request):
            body = await request.body()
            if request.url.path == SCORE_PATH:
                self.items.extend(json.loads(body)["items"])
            async with httpx.AsyncClient(base_url=target, timeout=120) as client:
                reply = await client.request(request.method, request.url.path, content=body,
                                             headers={"content-type": "application/json"})
            return Response(reply.content, reply.status_code, media_type="application/json")

        app = Starlette(routes=[Route(HEALTH_PATH, forward, methods=["GET"]),
                                Route(SCORE_PATH, forward, methods=["POST"])])
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "counting proxy did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()


@dataclass
class Services:
    overrides: list[str]
    rm_dir: Path
    proxy: CountingProxy


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """`pgrpo sandbox serve` and `pgrpo rm serve` (behind a CountingProxy) on loopback, stopped after."""
    from pgrpo.rm.scoring import build_tiny_rm
    from pgrpo.tiny import build_tokenizer

    rm_dir = build_tiny_rm(tmp_path_factory.mktemp("tiny-rm"), tokenizer=build_tokenizer())
    started: list[subprocess.Popen] = []
    proxy = None
    try:
        sandbox, sandbox_url = _serve(["sandbox", "serve", "--sandbox-workers", "2"])
        started.append(sandbox)
        rm, rm_url = _serve(["rm", "serve", "--model", str(rm_dir), "--device", "cpu", "--max-length", str(RM_MAX_LENGTH)])
        started.append(rm)
        proxy = CountingProxy(rm_url)
        # The served RM decides its max length and device: the recipe's local-RM keys go.
        yield Services([f"sandbox.url={sandbox_url}", f"reward.rm_url={proxy.url}", "reward.build_tiny_rm=false",
                        "reward.rm_max_length=null", "reward.rm_device=null"], Path(rm_dir), proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        for proc in started:
            _stop(proc)


@pytest.fixture(scope="module")
def run(tmp_path_factory, services):
    """The killed-and-resumed two-rank run: (output dir, seconds taken, step resumed from,
    the items the RM service received during the resumed run)."""
    out = tmp_path_factory.mktemp("multirank") / "run"
    log = out.parent / "torchrun.log"
    start = time.monotonic()
    first = _torchrun(out, log, services.overrides)
    try:
        while KILL_AT not in _logged_steps(out / "metrics.jsonl"):
            assert first.poll() is None, f"first run ended early (rc {first.returncode}):\n{log.read_text()[-4000:]}"
            assert time.monotonic() - start < 600, "first run too slow"
            time.sleep(0.05)
    finally:
        if first.poll() is None:
            _kill_tree(first.pid)
        first.wait()
    assert not (out / "final").exists()
    killed_at = max(_logged_steps(out / "metrics.jsonl"))
    services.proxy.items.clear()
    second = _torchrun(out, log, services.overrides)
    rc = second.wait(timeout=600)
    assert rc == 0, log.read_text()[-4000:]
    resumed = re.findall(r"pgrpo train: resuming from (\S+)", log.read_text())
    assert len(resumed) == 2 and len(set(resumed)) == 1  # both ranks, from rank 0's one choice
    resumed_step = int(resumed[0].rsplit("-", 1)[-1])
    assert resumed_step < killed_at  # steps past it were logged twice
    return out, time.monotonic() - start, resumed_step, list(services.proxy.items)


def test_each_step_logged_once_after_kill_and_resume(run):
    out, seconds, _, _ = run
    print(f"two-rank run, killed at step {KILL_AT} and resumed: {seconds:.1f}s")
    steps = [r["step"] for r in _rows(out / "metrics.jsonl") if not r.get("summary")]
    assert steps == list(range(1, STEPS + 1))
    samples = _rows(out / "samples.jsonl")
    keys = Counter((r["step"], r["rank"], r["index"]) for r in samples)
    assert max(keys.values()) == 1, "a sample row was logged twice"
    assert set(keys) == {(s, k, i) for s in range(1, STEPS + 1) for k in (0, 1) for i in range(PER_RANK)}


def _by_step(out: Path) -> dict[int, list[dict]]:
    """Each step's completions of both ranks, in global order (rank, then index in its slice)."""
    steps: dict[int, list[dict]] = defaultdict(list)
    for row in sorted(_rows(out / "samples.jsonl"), key=lambda r: (r["step"], r["rank"], r["index"])):
        steps[row["step"]].append(row)
    return steps


def test_metrics_are_global_totals(run):
    out = run[0]
    by_step = _by_step(out)
    for row in (r for r in _rows(out / "metrics.jsonl") if not r.get("summary")):
        batch = by_step[row["step"]]
        n = len(batch)
        assert row["outcome/completions"] == n == 2 * PER_RANK
        passed = sum(r["outcome"] for r in batch)
        assert row["outcome/pass_rate"] == pytest.approx(passed / n)
        assert row["thinking/rm_scored"] == sum(r["raw_thinking"] is not None for r in batch) == passed
        assert row["sandbox/timeouts"] == sum(r["status"] == "timeout" for r in batch)
        assert row["thinking/rm_truncated"] == 0  # tiny completions fit rm_max_length
        assert row["time/sandbox_s_max"] >= row["time/sandbox_s_mean"] > 0
        assert row["time/rm_s_max"] >= row["time/rm_s_mean"] >= 0
        # TRL's own reward means are over the gathered batch: they agree with ours.
        assert row["rewards/outcome/mean"] == pytest.approx(passed / n, abs=1e-6)
        assert row["reward"] == pytest.approx(sum(r["total"] for r in batch) / n, abs=1e-5)
    assert any(r["outcome"] for rows in by_step.values() for r in rows), "no completion passed: gate untested"


def test_rewards_equal_single_process_and_rm_sees_passing_only(run, services):
    from transformers import AutoTokenizer

    from pgrpo.rewards.batch import RewardEvaluator
    from pgrpo.rm.scoring import RewardScorer
    from pgrpo.train.config import load_train_config
    from pgrpo.train.tasks import load_examples, make_verifier

    out, _, resumed_step, served = run
    config = load_train_config(TINY, [f"output_dir={out}", *OVERRIDES])  # local sandbox pool
    examples = load_examples(config, AutoTokenizer.from_pretrained(out / "tiny-policy"))
    scorer = RewardScorer(str(services.rm_dir), batch_size=config.reward.rm_batch_size,
                          max_length=RM_MAX_LENGTH, device="cpu")
    local_rm = scorer.score
    asked: list[tuple[str, str]] = []  # what the single-process gate sends the RM

    def counting(queries):
        asked.extend((q.statement, q.reasoning) for q in queries)
        return local_rm(queries)

    compared = 0
    with make_verifier(config) as verifier:
        evaluator = RewardEvaluator({e.task_id: e.task for e in examples}, verifier, counting,
                                    mode=config.reward.mode, weight=config.reward.thinking_weight,
                                    group_size=config.grpo["num_generations"])
        resumed_asks: list[tuple[str, str]] = []
        for step, batch in sorted(_by_step(out).items()):
            asked.clear()
            single, _ = evaluator.evaluate([r["task_id"] for r in batch], [r["completion"] for r in batch])
            for row, reward in zip(batch, single.rewards):
                for field in ("format", "outcome", "status", "pass_fraction"):
                    assert row[field] == getattr(reward, field), (step, row["rank"], row["index"], field)
                for field in ("thinking", "total", "raw_thinking"):
                    assert row[field] == pytest.approx(getattr(reward, field), abs=1e-5), (step, field)
                compared += 1
            assert len(asked) == sum(r["outcome"] == 1.0 for r in batch)  # the gate
            if step > resumed_step:
                resumed_asks.extend(asked)
    assert compared == STEPS * 2 * PER_RANK
    # The service got exactly the passing completions of both ranks: no more, no fewer.
    assert Counter((i["statement"], i["reasoning"]) for i in served) == Counter(resumed_asks)
    assert resumed_asks, "no completion passed after the resume: the gate is untested"
