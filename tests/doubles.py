"""Test doubles for pipelines that talk to LLMs: a scripted backend and a fault-injecting server.

Owns `FunctionBackend` (a ChatBackend whose texts come from a Python function, so tests can
script well-formed answers) and `FaultInjectingServer` (a real loopback ChatServer that can
answer HTTP 500/429 (with Retry-After), malformed JSON, empty choices or stall past the client timeout, per
request, before answering normally). Binds 127.0.0.1. Importable from any test as
`from doubles import ...` (pyproject: pytest `pythonpath`).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pgrpo.llm.base import ChatBackend, ChatRequest, ChatResult
from pgrpo.llm.server import ChatServer

Responder = Callable[[ChatRequest], "str | list[str]"]
# fault -> the (status, body) answered instead of a completion; "timeout" stalls, then answers
_FAULT_REPLIES = {
    "500": (500, b'{"error": {"message": "injected failure", "type": "server_error"}}'),
    "429": (429, b'{"error": {"message": "slow down", "type": "rate_limit"}}'),
    "400": (400, b'{"error": {"message": "bad request", "type": "invalid_request_error"}}'),
    "malformed": (200, b'{"choices": [{"message": {"content": "trunc'),
    "empty": (200, b'{"choices": [], "usage": {}}'),
}
FAULTS = (*_FAULT_REPLIES, "timeout")


class FunctionBackend(ChatBackend):
    """`respond(request)` returns one text (repeated n times) or a list of n texts."""

    name = "function"

    def __init__(self, respond: Responder, model: str = "scripted") -> None:
        self.respond = respond
        self.model = model
        self.calls = 0
        self._lock = threading.Lock()

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        out = []
        for req in requests:
            with self._lock:
                self.calls += 1
            try:
                texts = self.respond(req)
            except Exception as exc:  # noqa: BLE001 - a scripted failure is a per-item error
                out.append(ChatResult([], f"{type(exc).__name__}: {exc}"))
                continue
            texts = [texts] * req.n if isinstance(texts, str) else list(texts)
            out.append(ChatResult(texts, None, False, 1, sum(len(t) for t in texts)))
        return out


class FaultInjectingServer(ChatServer):
    """`plan(body) -> fault or None` decides each POST's fate; faults: see FAULTS.

    `attempt_times` records when each POST arrived, per last-user-message text, so plans can
    fail the first k tries and tests can check the client's waits.
    """

    def __init__(self, backend: ChatBackend, plan: Callable[[dict, int], str | None],
                 stall_seconds: float = 3.0, retry_after: float = 1.0) -> None:
        super().__init__(backend, "127.0.0.1", 0)
        self.plan = plan
        self.stall_seconds = stall_seconds
        self.retry_after = retry_after
        self.attempt_times: dict[str, list[float]] = {}
        self.faults_served: list[str] = []
        self._count_lock = threading.Lock()

    @property
    def attempts(self) -> dict[str, int]:
        """POSTs received per last-user-message text."""
        with self._count_lock:
            return {key: len(times) for key, times in self.attempt_times.items()}

    def extra_headers(self, status: int) -> dict[str, str]:
        return {"Retry-After": f"{self.retry_after:g}"} if status == 429 else {}

    def respond(self, raw: bytes) -> tuple[int, bytes]:
        body = json.loads(raw.decode("utf-8"))
        key = str(body.get("messages", [{}])[-1].get("content", ""))
        with self._count_lock:
            times = self.attempt_times.setdefault(key, [])
            attempt = len(times)
            times.append(time.monotonic())
        fault = self.plan(body, attempt)
        if fault is None:
            return super().respond(raw)
        with self._count_lock:
            self.faults_served.append(fault)
        if fault in _FAULT_REPLIES:
            return _FAULT_REPLIES[fault]
        if fault == "timeout":
            time.sleep(self.stall_seconds)
            return super().respond(raw)
        raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")


def kill_after_first_record(args: Sequence[str], journal: Path, timeout_s: float = 180.0) -> int:
    """Run a pipeline command and SIGKILL it as soon as its journal holds one finished record,
    to test resumption; returns how many records the journal held after the kill."""
    proc = subprocess.Popen(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.communicate(timeout=30)
    return journal.read_text().count("\n") if journal.exists() else 0
