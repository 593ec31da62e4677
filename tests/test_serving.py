"""pgrpo.serving's transport details: replies are not held back by Nagle, and service subprocesses
are started (URL from their `listening on` line) and stopped by one helper."""

from __future__ import annotations

import asyncio
import socket
import sys
import time

import pytest

from pgrpo import serving


def test_accepted_connections_have_tcp_nodelay():
    """asyncio (uvicorn's loop) sets TCP_NODELAY only on sockets that say they are TCP; without it
    each reply (headers and body written separately) waited ~40 ms for the client's delayed ACK."""
    sock = serving.bind("127.0.0.1", 0)
    port = sock.getsockname()[1]

    async def main() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                conn = transport.get_extra_info("socket")
                accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(accepted, 10)
            writer.close()
            return value
        finally:
            server.close()

    assert asyncio.run(main()) != 0


def test_launch_returns_the_url_and_stop_process_ends_it():
    script = ("import signal, sys, time\nprint('booting', flush=True)\n"
              "print('svc: listening on http://127.0.0.1:5 (x)', flush=True)\n"
              "print('noise\\n' * 20000, flush=True)\ntime.sleep(120)\n")
    proc, url = serving.launch([sys.executable, "-c", script], timeout_s=30)
    try:
        assert url == "http://127.0.0.1:5"
        assert proc.poll() is None  # its further output (~120 kB) does not block it
    finally:
        serving.stop_process(proc, timeout_s=10)
    assert proc.returncode is not None


def test_launch_reports_a_service_that_never_listens():
    with pytest.raises(RuntimeError, match="did not start listening(.|\n)*port already in use"):
        serving.launch([sys.executable, "-c", "print('port already in use'); raise SystemExit(1)"], timeout_s=30)


def test_launch_survives_output_that_is_not_utf8():
    """A service printing bytes that are not UTF-8 (after its listening line) keeps running: the drain
    thread decodes with errors="replace", so the pipe keeps being read and the service never blocks."""
    script = ("import sys, time\nprint('svc: listening on http://127.0.0.1:5 (x)', flush=True)\n"
              "for _ in range(2000):\n    sys.stdout.buffer.write(b'\\xff\\xfe bad bytes ' * 8 + b'\\n')\n"
              "sys.stdout.flush()\nprint('done', flush=True)\ntime.sleep(120)\n")
    proc, url = serving.launch([sys.executable, "-c", script], timeout_s=30)
    try:
        assert url == "http://127.0.0.1:5"
        # ~250 kB of undecodable output: more than a pipe holds, so it gets here only if the pipe is drained
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and _sleeping(proc.pid) is False:
            time.sleep(0.1)
        assert proc.poll() is None and _sleeping(proc.pid)
    finally:
        serving.stop_process(proc, timeout_s=10)


def _sleeping(pid: int) -> bool:
    """Whether the process's main thread waits in time.sleep (not blocked writing to a full pipe)."""
    with open(f"/proc/{pid}/wchan") as f:
        return "nanosleep" in f.read()
