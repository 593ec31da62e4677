"""Two "nodes" on one machine stop together, naming the cause (slow).

Each node is its own `torchrun --nnodes 2 --nproc_per_node 1 --node_rank K` (static rendezvous on
a free loopback port, gloo), training the tiny recipe for 2 steps into its own output directory, on
a tiny policy built beforehand (`model.path`). A service reachable from node 0 only, two ways:
- from the start: node 1's URL refuses connections. Every rank contacts its services once the
  process group is up (pgrpo.train.runner.agreed_service_checks), so both nodes stop before training, naming rank 1
  and its URL (checked before the process group, node 0 waited in the rendezvous, naming nothing);
- from the first training step: node 1 reaches the service through a loopback TCP relay that goes
  down for good (its port then refuses connections) when the first reward request of training
  passes through it, as a link that breaks once training runs. Node 1's reward computation fails
  at step 1 and, through the step's gather (pgrpo.train.trl_hooks), so does node 0's.
Node 0 talks to the service directly. Both processes exit non-zero within a few minutes, each
naming rank 1 and the URL node 1 could not reach. The services get a token (as beyond loopback),
so they answer the relay's Host. A prompt over the recipe's budget is refused before training on
both nodes alike, naming the problem.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopback import free_port
from pgrpo.serving import launch, stop_process

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny-cpu.yaml"
TINY_DATA = ROOT / "recipes" / "data" / "tiny-humaneval.jsonl"
DEADLINE_S = 240  # "within a few minutes"; the backstop collective timeout below is 120 s
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
       "PGRPO_RM_TOKEN": "two-nodes-rm", "PGRPO_SANDBOX_TOKEN": "two-nodes-sandbox"}
AT_STEP_1 = "reward computation failed at step 1 (every rank stops at this step; 1 of 2 ranks failed): "
AT_START = "checking the services the recipe names failed on 1 of 2 ranks, so every rank stops: "
# 2 steps, no warm-up, no checkpoint, no samples; short reward-side timeouts, set through the recipe
OVERRIDES = [f"data.source={TINY_DATA}", "grpo.max_steps=2", "grpo.save_steps=100", "grpo.report_to=none",
             "model.format_warmup_steps=0", "sandbox.workers=2", "logging.sample_every=0", "grpo.ddp_timeout=120",
             "reward.rm_timeout_s=10", "reward.rm_retries=1", "sandbox.request_timeout_s=20", "sandbox.retries=1"]

pytestmark = pytest.mark.slow


class CuttingRelay:
    """A loopback TCP relay to `target` that goes down for good (listening socket and every
    connection closed: later connections are refused) as soon as a client sends `cut_on`."""

    def __init__(self, target: str, cut_on: bytes) -> None:
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self._target = (host, int(port))
        self._cut_on = cut_on
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.cut = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if from_client and self._cut_on in data:
                self.stop()
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def stop(self) -> None:
        self.cut.set()
        with self._lock:
            for sock in [self._listener, *self._open]:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


@dataclass
class NodeRun:
    codes: list[int]
    logs: list[str]
    seconds: float


def _two_nodes(tmp_path: Path, policy: str, per_node: list[list[str]]) -> NodeRun:
    """Both nodes' torchrun, started together; their exit codes and logs once both have ended."""
    port = free_port()
    procs, paths = [], []
    start = time.monotonic()
    for node, extra in enumerate(per_node):
        log = tmp_path / f"node{node}.log"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
               "--node_rank", str(node), "--master_addr", "127.0.0.1", "--master_port", str(port),
               "-m", "pgrpo", "train", "--config", str(TINY), f"output_dir={tmp_path / f'node{node}'}",
               "model.build_tiny=false", f"model.path={policy}", *OVERRIDES, *extra]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                      start_new_session=True))
        paths.append(log)
    try:
        codes = [proc.wait(timeout=max(1.0, DEADLINE_S - (time.monotonic() - start))) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)  # the test's own torchrun and its worker
                proc.wait()
    return NodeRun(codes, [p.read_text(errors="replace") for p in paths], time.monotonic() - start)


def _error_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.startswith("pgrpo: error: ")]
    assert lines, log[-4000:]
    return lines[-1]


def _assert_both_stop_naming(run: NodeRun, header: str, cause: str) -> None:
    """Both exited non-zero in time with the same error: `header`, then rank 1's `cause` alone."""
    print(f"two nodes stopped in {run.seconds:.1f}s with exit codes {run.codes}")
    assert all(code != 0 for code in run.codes), run.codes
    assert run.seconds < DEADLINE_S
    errors = [_error_line(log) for log in run.logs]
    for error in errors:
        assert f"{header}rank 1: {cause}" in error, error
        assert "rank 0:" not in error
    assert errors[0] == errors[1]  # the same error, from the same collective


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory) -> Path:
    from pgrpo.rm.scoring import build_tiny_rm
    from pgrpo.tiny import build_tokenizer

    return Path(build_tiny_rm(tmp_path_factory.mktemp("tiny-rm"), tokenizer=build_tokenizer()))


def _service(*args: str) -> tuple[subprocess.Popen, str]:
    return launch([sys.executable, "-m", "pgrpo", *args, "--host", "127.0.0.1", "--port", "0"], env=ENV, timeout_s=120)


RM_ARGS = ["reward.mode=additive", "reward.build_tiny_rm=false", "reward.rm_max_length=null",
           "reward.rm_device=null"]  # additive: every completion is scored, passing or not


def test_rm_unreachable_from_node_1_from_the_start(tmp_path, tiny_rm, tiny_policy_path):
    rm, url = _service("rm", "serve", "--model", str(tiny_rm), "--device", "cpu")
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connections are refused
    try:
        run = _two_nodes(tmp_path, tiny_policy_path,
                         [[*RM_ARGS, f"reward.rm_url={url}"], [*RM_ARGS, f"reward.rm_url={closed}"]])
    finally:
        stop_process(rm)
    _assert_both_stop_naming(run, AT_START, f"ConfigError: reward.rm_url: reward-model service {closed} failed")
    assert all("pgrpo train: 8 code problems" not in log for log in run.logs)  # stopped before training


def test_rm_unreachable_from_node_1_from_step_1(tmp_path, tiny_rm, tiny_policy_path):
    from pgrpo.rm.backends import SCORE_PATH

    rm, url = _service("rm", "serve", "--model", str(tiny_rm), "--device", "cpu")
    relay = CuttingRelay(url, f"POST {SCORE_PATH} ".encode())
    try:
        run = _two_nodes(tmp_path, tiny_policy_path,
                         [[*RM_ARGS, f"reward.rm_url={url}"], [*RM_ARGS, f"reward.rm_url={relay.url}"]])
    finally:
        relay.stop()
        stop_process(rm)
    assert relay.cut.is_set(), run.logs[1][-4000:]  # node 1's link broke at its first score request
    _assert_both_stop_naming(run, AT_STEP_1, f"RMServiceError: reward-model service {relay.url} failed after 2 "
                                             "attempts")


def test_sandbox_unreachable_from_node_1_from_step_1(tmp_path, tiny_policy_path):
    from pgrpo.sandbox.wire import RUN_PATH

    sandbox, url = _service("sandbox", "serve", "--sandbox-workers", "2")
    relay = CuttingRelay(url, f"POST {RUN_PATH} ".encode())
    try:
        common = ["reward.mode=outcome", "reward.build_tiny_rm=false"]
        run = _two_nodes(tmp_path, tiny_policy_path,
                         [[*common, f"sandbox.url={url}"], [*common, f"sandbox.url={relay.url}"]])
    finally:
        relay.stop()
        stop_process(sandbox)
    assert relay.cut.is_set(), run.logs[1][-4000:]
    _assert_both_stop_naming(run, AT_STEP_1, f"RemoteSandboxError: sandbox service {relay.url} failed after 2 "
                                             "attempts")


def test_a_prompt_over_the_budget_is_refused_on_both_nodes(tmp_path, tiny_policy_path):
    data = tmp_path / "data.jsonl"
    long_problem = {"task_id": "Long/0", "prompt": 'def add(a, b):\n    """' + "Add two numbers. " * 3000 + '"""\n',
                    "entry_point": "add", "canonical_solution": "    return a + b\n",
                    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"}
    data.write_text(TINY_DATA.read_text() + json.dumps(long_problem) + "\n")
    args = [f"data.source={data}", "reward.mode=outcome", "reward.build_tiny_rm=false"]
    run = _two_nodes(tmp_path, tiny_policy_path, [args, args])
    print(f"two nodes refused in {run.seconds:.1f}s with exit codes {run.codes}")
    assert all(code != 0 for code in run.codes) and run.seconds < DEADLINE_S
    for log in run.logs:
        error = _error_line(log)
        assert "1 prompt(s) longer than the budget of 4032 tokens" in error, error  # 4096 positions - 64
        assert "Long/0 (" in error and "TinyEval/" not in error
        assert "reward computation" not in log  # refused before training
