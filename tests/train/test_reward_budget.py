"""The reward side's worst case per step against the collective timeout (`pgrpo.train.reward_budget`).

A failing RM or sandbox-service call must end before the other ranks stop waiting in the step's
gather (`grpo.ddp_timeout`); `pgrpo train --check` prints the worst case and refuses a config
where it reaches the collective timeout. Also: an RM request attempt ends within its timeout
even when the service trickles bytes (httpx's timeouts alone are per read).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loopback import serving
from pgrpo.cli import main
from pgrpo.config import ConfigError
from pgrpo.rm.client import RMClient, RMServiceError, score_worst_case
from pgrpo.sandbox.pool import WORKER_GRACE_S
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.serving import Attempts
from pgrpo.train.config import load_train_config, validate_train_config
from pgrpo.train.reward_budget import completions_per_rank, reward_budget

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny-cpu.yaml"
TINY_DATA = str(ROOT / "recipes" / "data" / "tiny-humaneval.jsonl")
RM = "http://10.0.0.5:8767"  # never contacted: check_paths=False


def served_rm(tmp_path, *overrides):
    return load_train_config(TINY, [f"output_dir={tmp_path}", f"data.source={TINY_DATA}", f"reward.rm_url={RM}",
                                    "reward.build_tiny_rm=false", "reward.rm_max_length=null", "reward.rm_device=null",
                                    "sandbox.workers=4", "reward.mode=additive", *overrides])


def test_retry_policy_worst_case_is_attempts_plus_stretched_backoff():
    # the figure for the old RM defaults: (3 retries + 1) x 300 s + backoff 1.25 x (1 + 2 + 4) s
    assert Attempts.worst_case_s(3, 1.0, 300.0) == pytest.approx(4 * 300 + 1.25 * 7)
    assert Attempts.worst_case_s(0, 1.0, 5.0) == 5.0


def test_rm_requests_go_eight_at_a_time():
    one_round = score_worst_case(64, items_per_request=16, timeout_s=10, retries=1, backoff_s=1)
    assert one_round.seconds == pytest.approx(2 * 10 + 1.25)
    two_rounds = score_worst_case(200, items_per_request=16, timeout_s=10, retries=1, backoff_s=1)  # 13 requests
    assert two_rounds.seconds == pytest.approx(2 * one_round.seconds) and "2 round(s)" in two_rounds.how


def test_completions_per_rank_follow_trl_generation_batch(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert completions_per_rank({"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4}) == 32
    assert completions_per_rank({"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4,
                                 "steps_per_generation": 8}) == 64
    assert completions_per_rank({"generation_batch_size": 512}) == 512  # one rank is the most
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert completions_per_rank({"generation_batch_size": 512}) == 64


def test_served_rm_and_local_pool_add_up_and_default_timeouts_fit(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # as a rank: the pool's workers are this node's
    config = served_rm(tmp_path, "grpo.ddp_timeout=900")
    budget = reward_budget(config, validate_train_config(config, check_paths=False), contact=False)
    n = 4  # tiny recipe: per_device_train_batch_size 4, one accumulation step
    rm = score_worst_case(n, items_per_request=config.reward.rm_batch_size, timeout_s=config.reward.rm_timeout_s,
                          retries=config.reward.rm_retries)
    assert budget.completions == n
    # one round of the pool: the per-program limit plus the grace before a silent worker counts as hung
    assert budget.worst_case_s == pytest.approx(1 * (config.sandbox.timeout_per_program_s + WORKER_GRACE_S) + rm.seconds)
    assert budget.fits and budget.collective_timeout_s == 900
    text = budget.describe()
    assert RM in text and "local pool of 4 workers" in text and "900 s: fits" in text


def test_a_worst_case_reaching_the_collective_timeout_is_refused_naming_the_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    with pytest.raises(ConfigError) as info:
        validate_train_config(served_rm(tmp_path, "reward.rm_timeout_s=300", "reward.rm_retries=3",
                                        "grpo.ddp_timeout=1200"), check_paths=False)
    message = str(info.value)
    assert message.startswith("grpo.ddp_timeout: 1200 s") and "reward.rm_timeout_s" in message
    assert RM in message and "DOES NOT FIT" in message
    validate_train_config(served_rm(tmp_path, "grpo.ddp_timeout=1200"), check_paths=False)  # defaults fit


def test_a_pool_sized_by_this_machine_is_not_counted_outside_a_rank(tmp_path, monkeypatch):
    from pgrpo.sandbox.resources import default_workers

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    config = served_rm(tmp_path, f"sandbox.workers={default_workers()}")
    budget = reward_budget(config, validate_train_config(config, check_paths=False), contact=False)
    pool = budget.terms[0]
    assert pool.seconds is None and "training node" in pool.line()


def _health_service(workers: int, max_jobs: int):
    limits = {k: getattr(SandboxConfig(), k) for k in ("timeout_per_test_s", "timeout_per_program_s", "memory_mb",
                                                         "output_limit_bytes", "max_processes", "scratch_mb")}
    body = json.dumps({"status": "ok", "api_version": 1, "pgrpo_version": "x", "isolation": "bwrap",
                       "workers": workers, "limits": limits, "max_jobs": max_jobs, "max_body_bytes": 1 << 20}).encode()

    class Health(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", 0), Health)


def test_sandbox_service_timeouts_are_sized_from_its_health_or_the_recipe(tmp_path):
    from pgrpo.sandbox.remote import auto_request_timeout_s, run_worst_case

    with serving(_health_service(workers=2, max_jobs=100)) as url:
        config = load_train_config(TINY, [f"output_dir={tmp_path}", f"data.source={TINY_DATA}", f"sandbox.url={url}",
                                          "reward.mode=outcome", "sandbox.retries=1"])
        kwargs = validate_train_config(config, check_paths=False)
        offline = reward_budget(config, kwargs, contact=False)
        assert offline.terms[0].seconds is None and "request_timeout_s: 0" in offline.terms[0].how
        contacted = reward_budget(config, kwargs, contact=True)  # reads workers=2 from /health
    timeout = auto_request_timeout_s(config.sandbox.timeout_per_program_s, 4, 2)
    assert timeout == 60 + 4 * 2 * (config.sandbox.timeout_per_program_s + 2)
    attempt = 10 + 30 + 10 + timeout  # its /health read, the connection, the reply
    assert contacted.worst_case_s == pytest.approx(40 + Attempts.worst_case_s(1, 0.5, attempt))
    fixed = run_worst_case(SandboxConfig(url=url, request_timeout_s=100, retries=0), 4)
    assert fixed.seconds == pytest.approx(40 + 10 + 100)


@contextlib.contextmanager
def trickling_service():
    """Accepts connections and sends an HTTP head, then one body byte every 0.2 s, forever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def handle(conn):
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.2)

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()


def test_an_rm_attempt_ends_within_its_timeout_even_when_bytes_keep_coming():
    with trickling_service() as url, RMClient([url], timeout_s=1.0, retries=1, backoff_s=0.1) as client:
        start = time.monotonic()
        with pytest.raises(RMServiceError, match="timed out after 1s") as info:
            _ = client.manifest
        took = time.monotonic() - start
    assert url in str(info.value)
    assert took < score_worst_case(1, items_per_request=1, timeout_s=1.0, retries=1, backoff_s=0.1).seconds + 1.0


def test_train_check_prints_the_worst_case(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    args = ["train", "--config", str(TINY), "--check", f"output_dir={tmp_path}", f"data.source={TINY_DATA}",
            "reward.mode=outcome", "sandbox.workers=1", "grpo.ddp_timeout=1800"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "reward side, worst case per step on one rank (4 completions per reward call)" in out
    assert f"local pool of 1 workers: <= {4 * (6.0 + WORKER_GRACE_S):.1f} s" in out and "collective timeout (grpo.ddp_timeout) 1800 s: fits" in out
    assert main([*args, "grpo.ddp_timeout=20"]) == 2
    worst = 4 * (6.0 + WORKER_GRACE_S)
    assert f"grpo.ddp_timeout: 20 s, but the reward side of one step can take up to {worst:.1f} s" in capsys.readouterr().err


def test_unittest_data_sizes_programs_at_that_kinds_limit_only_when_allowed():
    from types import SimpleNamespace

    from pgrpo.sandbox.settings import SandboxConfig
    from pgrpo.train.reward_budget import _program_limit

    def limit(allow: bool, **sandbox: Any) -> tuple[float, str]:
        return _program_limit(SimpleNamespace(sandbox=SandboxConfig(**sandbox), data=SimpleNamespace(allow_unittest=allow)))

    assert limit(False) == (30.0, "every program at sandbox.timeout_per_program_s")
    assert limit(True) == (241.0, "every program at the unittest kind's limit")
    assert limit(True, timeout_per_program_s=20.0)[0] == 20.0  # a recipe's own value wins, as in every sandbox
