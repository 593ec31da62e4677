"""Both services (`pgrpo sandbox serve`, `pgrpo rm serve`) against hostile clients: a DNS-rebinding
`Host` is refused without a token, half-open connections never starve a token holder (header
timeout, per-peer and total caps under a 1,024-descriptor limit), /health and the token check
answer while every worker is busy, and one client's backlog does not starve another's request.

Every service runs on loopback and is stopped by the test that starts it. Extra source addresses
(127.0.0.2, ...) stand for other machines: Linux routes all of 127/8 to the loopback device.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from pgrpo import serving
from pgrpo.data.problem import CallCase, Problem, TestKind, Tests
from pgrpo.data.schema import problem_to_dict
from pgrpo.sandbox import SandboxConfig
from pgrpo.sandbox.service import BackgroundService
from pgrpo.serving.guard import ConnectionLimits, host_allowed

pytestmark = pytest.mark.sandbox

TOKEN = "hostile-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CALL = Problem("t/sq", "sq", Tests(TestKind.CALL, call_cases=(CallCase((2,), 4),)), entry_point="sq")
QUICK = "def sq(x):\n    return x * x"
PARTIAL_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # never finished


def _body(*programs: str) -> bytes:
    import json

    return json.dumps({"version": 1, "problems": [problem_to_dict(CALL)],
                       "jobs": [{"problem": 0, "program": p} for p in programs]}).encode()


def _post(url: str, body: bytes, *, source: str | None = None, timeout: float = 60) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source) if source else None
    with httpx.Client(transport=transport, timeout=timeout) as client:
        return client.post(url + "/v1/run", content=body, headers={**AUTH, "Content-Type": "application/json"})


def _timed_get(url: str, headers: dict[str, str], timeout: float = 10) -> tuple[float, int]:
    start = time.perf_counter()
    status = httpx.get(url + "/health", headers=headers, timeout=timeout).status_code
    return time.perf_counter() - start, status


def _fd_room(need: int) -> None:
    """This process may hold `need` descriptors (soft limit raised to the hard one), else skip."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"needs {need} descriptors; hard limit {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else hard, hard))


def _half_open(port: int, n: int, sources: list[str]) -> list[socket.socket]:
    """`n` connections from `sources` in turn, each sending a request head it never finishes.
    Those the server drops on arrival (a cap) are kept too: their descriptors stay ours."""
    socks = []
    for i in range(n):
        s = socket.socket()
        s.settimeout(5)
        s.bind((sources[i % len(sources)], 0))
        socks.append(s)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(PARTIAL_HEAD)
        except OSError:  # reset by the server's caps: expected
            pass
    return socks


def _exchange(s: socket.socket, request: bytes) -> bytes:
    """Send `request` on `s` and read one whole reply (head and Content-Length body): its status line."""
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096) or _eof()
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += s.recv(4096) or _eof()
    return head.split(b"\r\n")[0]


def _eof() -> bytes:
    raise AssertionError("the server closed the connection")


def _closed_by_server(s: socket.socket, wait_s: float) -> bool:
    s.settimeout(wait_s)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


# -- Host (DNS rebinding) ------------------------------------------------------------------
def test_host_rule():
    server = ("127.0.0.1", 8766)
    for host in ("localhost:8766", "127.0.0.1:8766", "[::1]:8766", "LocalHost:8766"):
        assert host_allowed(host, server), host
    for host in ("evil.example:8766", "localhost:8767", "127.0.0.1", "localhost", "", "[::1]", "::1:8766",
                 "127.0.0.1:8766:1", "localhost:abc", "[::1]x:8766", "localhost.:8766", "127.0.0.2:8766"):
        assert not host_allowed(host, server), host
    assert host_allowed("127.0.0.5:9", ("127.0.0.5", 9)) and host_allowed("localhost:80", ("127.0.0.1", 80))


def test_sandbox_service_refuses_a_rebinding_host_without_a_token():
    with BackgroundService(SandboxConfig(workers=1)) as svc:
        port = svc.url.rsplit(":", 1)[1]
        evil = httpx.get(svc.url + "/health", headers={"Host": f"evil.example:{port}"})
        assert evil.status_code == 400 and "host" in evil.json()["detail"], evil.text
        assert evil.headers["connection"] == "close"
        run = httpx.post(svc.url + "/v1/run", content=_body(QUICK),
                         headers={"Host": f"evil.example:{port}", "Content-Type": "application/json"})
        assert run.status_code == 400
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
            assert httpx.get(svc.url + "/health", headers={"Host": host}).status_code == 200, host
        assert httpx.get(svc.url + "/health", headers={"Host": "localhost:1"}).status_code == 400
        ok = httpx.post(svc.url + "/v1/run", content=_body(QUICK), headers={"Content-Type": "application/json"})
        assert ok.status_code == 200 and ok.json()["results"][0]["passed"]


def test_with_a_token_the_token_is_required_whatever_the_host():
    with BackgroundService(SandboxConfig(workers=1), token=TOKEN) as svc:
        evil = {"Host": "evil.example:1"}
        assert httpx.get(svc.url + "/health", headers=evil).status_code == 401
        assert httpx.get(svc.url + "/health", headers={**evil, **AUTH}).status_code == 200


def test_rm_service_refuses_a_rebinding_host_and_answers_health_while_scoring(tiny_rm_path):
    from pgrpo.rm.scoring import RewardScorer
    from pgrpo.rm.service import BackgroundService as RMService

    scorer = RewardScorer(tiny_rm_path, device="cpu")
    slow = scorer.raw_scores_encoded
    scorer.raw_scores_encoded = lambda encoded: (time.sleep(1.0), slow(encoded))[1]  # type: ignore[method-assign]
    with RMService(scorer, batch_tokens=1) as svc:  # one request per forward pass
        port = svc.url.rsplit(":", 1)[1]
        assert httpx.get(svc.url + "/health", headers={"Host": f"evil.example:{port}"}).status_code == 400
        body = b'{"items": [{"statement": "s", "reasoning": "r", "code": "c"}]}'
        threads = [threading.Thread(target=httpx.post, args=(svc.url + "/v1/score",),
                                    kwargs={"content": body, "headers": {"Content-Type": "application/json"},
                                            "timeout": 60}) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # the model's thread is busy; requests queue behind it
        latencies = [_timed_get(svc.url, {})[0] for _ in range(5)]
        assert max(latencies) < 0.5, latencies
        for t in threads:
            t.join()
        assert svc.app.state.batcher.batches == 6


# -- half-open connections ------------------------------------------------------------------
def test_half_open_connections_are_dropped_after_the_header_timeout_and_capped_per_peer():
    limits = ConnectionLimits(header_timeout_s=1.0, pending_per_peer=8)
    with BackgroundService(SandboxConfig(workers=1), token=TOKEN, connections=limits) as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        guard = svc.app.state.guard
        flood = _half_open(port, 20, ["127.0.0.3"])
        keep = socket.create_connection(("127.0.0.1", port), timeout=5)  # a client between requests
        request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
        assert b"200 OK" in _exchange(keep, request)
        try:
            assert guard.dropped["peer cap"] == 12  # the oldest 12 of the 20; the newest 8 wait
            assert [_closed_by_server(s, 0.05) for s in flood[:12]] == [True] * 12
            assert not any(_closed_by_server(s, 0.05) for s in flood[12:])
            time.sleep(1.5)
            assert all(_closed_by_server(s, 1.0) for s in flood[12:]) and guard.dropped["header timeout"] == 8
            # kept alive: it had sent a whole head (keep-alive time, not the header timeout)
            assert b"200 OK" in _exchange(keep, request)
            assert len(guard) == 1
        finally:
            for s in [*flood, keep]:
                s.close()


def test_a_body_trickled_or_never_sent_is_dropped_after_its_deadline():
    limits = ConnectionLimits(body_timeout_s=0.5)
    with BackgroundService(SandboxConfig(workers=1), token=TOKEN, connections=limits) as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        guard = svc.app.state.guard
        stalled = socket.create_connection(("127.0.0.1", port), timeout=5)
        # 100 KB announced: 0.5 s + 0.1 s at 1 MiB/s to arrive; 2 bytes sent, then one byte a second
        stalled.sendall(f"POST /v1/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"".encode())
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 5:
            try:
                stalled.sendall(b" ")
            except OSError:
                break
            closed = _closed_by_server(stalled, 1.0)
        waited = time.monotonic() - started
        stalled.close()
        assert guard.dropped["body timeout"] == 1 and waited < 3.0
        ok = httpx.post(svc.url + "/v1/run", content=_body(QUICK), headers={**AUTH, "Content-Type": "application/json"})
        assert ok.status_code == 200 and ok.json()["results"][0]["status"] == "passed"
        assert guard.dropped["body timeout"] == 1  # a whole body in time is never dropped


def test_1100_half_open_connections_do_not_starve_a_token_holder_under_1024_descriptors(tmp_path):
    """The service runs as `pgrpo sandbox serve` in a process whose descriptor limit is 1,024 (hard:
    it cannot raise it). 1,100 connections from 8 addresses each send part of a request head and
    stop; a token holder's /health and a run are still answered within 2 s, and the service never
    ran out of descriptors (asyncio would then stop accepting for a second at a time)."""
    _fd_room(1500)
    launcher = ("import resource, runpy, sys\n"
                "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))\n"
                "sys.argv = ['pgrpo', 'sandbox', 'serve', '--port', '0', '--sandbox-workers', '1']\n"
                "runpy.run_module('pgrpo', run_name='__main__')\n")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", launcher], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PGRPO_SANDBOX_TOKEN": TOKEN})
    flood: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"listening on (\S+)", log.read_text())) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert found, log.read_text()
        url = found.group(1)
        assert httpx.get(url + "/health", headers=AUTH, timeout=30).status_code == 200  # warm
        flood = _half_open(int(url.rsplit(":", 1)[1]), 1100, [f"127.0.0.{k}" for k in range(2, 10)])
        took, status = _timed_get(url, AUTH, timeout=2)
        assert status == 200 and took < 2.0, took
        start = time.perf_counter()
        reply = _post(url, _body(QUICK), timeout=2)
        ran = time.perf_counter() - start
        assert reply.status_code == 200 and reply.json()["results"][0]["passed"] and ran < 2.0, ran
        print(f"\ntoken holder under 1,100 half-open connections: /health {took * 1000:.0f} ms, run {ran * 1000:.0f} ms")
        assert proc.poll() is None and "Too many open files" not in log.read_text(), log.read_text()[-2000:]
    finally:
        for s in flood:
            s.close()
        serving.stop_process(proc, timeout_s=10)


# -- saturation and fairness -----------------------------------------------------------------
def test_health_and_auth_answer_within_half_a_second_while_every_worker_is_busy():
    """One slow request (it holds the only worker for 3 s), then 40 quick ones queued behind it:
    /health and a wrong token's 401 still answer within 0.5 s (before: ~4 s, behind the slow job,
    because both ran in the thread pool that the blocked requests held)."""
    config = SandboxConfig(workers=1, timeout_per_test_s=3, timeout_per_program_s=3)
    with BackgroundService(config, token=TOKEN) as svc:
        share = svc.app.state.runner.share
        replies: list[httpx.Response] = []
        bodies = [_body("def sq(x):\n    while True: pass")] + [_body(QUICK)] * 40
        threads = [threading.Thread(target=lambda b=b: replies.append(_post(svc.url, b))) for b in bodies]
        threads[0].start()
        deadline = time.monotonic() + 10
        while share.used < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        for t in threads[1:]:
            t.start()
        while share.waiting() < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert share.used == share.permits and share.waiting() >= 30
        health = [_timed_get(svc.url, AUTH) for _ in range(5)]
        refused = [_timed_get(svc.url, {"Authorization": "Bearer wrong"}) for _ in range(3)]
        assert all(s == 200 for _, s in health) and all(s == 401 for _, s in refused)
        assert max(t for t, _ in health + refused) < 0.5, (health, refused)
        assert len(replies) == 0  # measured while saturated: nothing had been answered yet
        print(f"\n/health under saturation: {[round(1000 * t) for t, _ in health]} ms, "
              f"401: {[round(1000 * t) for t, _ in refused]} ms")
        for t in threads:
            t.join()
        assert len(replies) == 41 and all(r.status_code == 200 for r in replies)


def test_one_clients_backlog_does_not_starve_another_client():
    """Client A (127.0.0.2) queues 16 jobs of 0.25 s on a one-worker service; client B's single job,
    sent after them, is answered after about two of A's jobs, not after A's whole backlog."""
    nap = "import time\ntime.sleep(0.25)\ndef sq(x):\n    return x * x"
    with BackgroundService(SandboxConfig(workers=1), token=TOKEN) as svc:
        share = svc.app.state.runner.share
        done_a: list[float] = []
        threads = [threading.Thread(target=lambda: (_post(svc.url, _body(*[nap] * 8), source="127.0.0.2"),
                                                    done_a.append(time.perf_counter()))) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while share.waiting("127.0.0.2") < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.perf_counter()
        reply = _post(svc.url, _body(QUICK), source="127.0.0.1")
        took_b = time.perf_counter() - start
        assert reply.status_code == 200 and reply.json()["results"][0]["passed"]
        for t in threads:
            t.join()
        assert took_b < 1.5 and len(done_a) == 2 and min(done_a) > start + took_b, (took_b, done_a)
        print(f"\nclient B behind client A's 16 queued jobs: {took_b * 1000:.0f} ms")


def test_rm_groups_take_clients_in_turn():
    """The RM batcher fills each group round-robin over clients: B's one request, queued behind
    six of A's, is scored in the second or third group, not the seventh."""
    from pgrpo.rm.scoring import RMItem
    from pgrpo.rm.service import _Batcher

    order: list[str] = []

    class Scorer:
        def encode_items(self, items):
            return [SimpleNamespace(input_ids=[0] * 10, truncated=False, tag=i.statement) for i in items]

        def raw_scores_encoded(self, encoded):
            order.extend(e.tag for e in encoded)
            time.sleep(0.05)
            return [0.0] * len(encoded)

    async def main() -> None:
        batcher = _Batcher(Scorer(), batch_tokens=10)  # type: ignore[arg-type]
        a = [asyncio.create_task(batcher.score([RMItem(f"a{k}", "r")], "A")) for k in range(6)]
        await asyncio.sleep(0.02)
        b = asyncio.create_task(batcher.score([RMItem("b", "r")], "B"))
        await asyncio.gather(*a, b)
        first = batcher.task
        assert first is not None
        await asyncio.sleep(0)
        assert first.done()  # the drain ends once nothing waits
        # a request queued after the drain ended starts a new one and is scored (never stranded)
        assert await asyncio.wait_for(batcher.score([RMItem("late", "r")], "C"), 5) == ([0.0], [False])
        assert batcher.task is not first and batcher.batches >= 3
        batcher.close()

    asyncio.run(main())
    assert sorted(order) == sorted([f"a{k}" for k in range(6)] + ["b", "late"])
    assert order.index("b") <= 2, order


def test_websocket_handshakes_meet_the_same_rules():
    from pgrpo.serving.guard import ConnectionGuard, Gate

    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}

    def scope(host: str, auth: bytes = b"") -> dict:
        headers = [(b"host", host.encode())] + ([(b"authorization", auth)] if auth else [])
        return {"type": "websocket", "headers": headers, "server": ("127.0.0.1", 8000), "client": ("1.2.3.4", 5)}

    open_gate = Gate(app, guard=ConnectionGuard(ConnectionLimits()), token=None)
    asyncio.run(open_gate(scope("evil.example:8000"), receive, send))
    assert reached == [] and sent == [{"type": "websocket.close", "code": 1008}]
    asyncio.run(open_gate(scope("127.0.0.1:8000"), receive, send))
    assert reached == ["websocket"]
    token_gate = Gate(app, guard=ConnectionGuard(ConnectionLimits()), token="s3cret")
    asyncio.run(token_gate(scope("127.0.0.1:8000"), receive, send))
    assert reached == ["websocket"] and len(sent) == 2
    asyncio.run(token_gate(scope("127.0.0.1:8000", b"Bearer s3cret"), receive, send))
    assert reached == ["websocket", "websocket"]
