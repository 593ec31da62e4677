"""What pgrpo's HTTP services (`pgrpo rm serve`, `pgrpo sandbox serve`) and their clients share.
Services: the binding rule (loopback unless a token is set), `make_app` (behind guard.Gate), `read_model`
(JSON only, size-capped, 4xx naming the field), uvicorn on a bound socket (`serve_forever`,
`BackgroundServer`, `launch`). Clients: `parse_urls`, `Rotation`, `Attempts` (retry on the next URL,
backoff with jitter) and `reply_body` (which replies are retried).

Does NOT protect against: a client holding the token, eavesdropping or tampering (plain HTTP, no TLS), or
a flood from many addresses (no rate limits; see guard).
"""

import ipaddress
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from pgrpo.config import ConfigError
from pgrpo.errors import PgrpoError
from pgrpo.serving.guard import (
    ACCEPT_BURST,
    LISTEN_QUEUE,
    ConnectionGuard,
    ConnectionLimits,
    Gate,
    guarded_protocol,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

HEALTH_PATH = "/health"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", bound="BackgroundServer")


class StrictModel(BaseModel):
    """A wire schema: unknown fields are refused, so a typo never silently drops a field."""

    model_config = ConfigDict(extra="forbid")


# -- services ------------------------------------------------------------------------------
def check_binding(host: str, token: str | None, *, token_env: str, risk: str) -> None:
    """PgrpoError unless `host` is loopback or a token is set; `risk`: what anyone could do otherwise."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not token and not loopback:
        raise PgrpoError(f"--host {host}: binding beyond loopback needs a shared token (--token or env "
                         f"{token_env}); anyone who can reach the port could {risk} otherwise")


def validation_text(exc: ValidationError) -> str:
    """The first errors of a failed validation, each naming its field (`jobs[0].program: ...`)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ())).lstrip(".")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def make_app(title: str, health: BaseModel, token: str | None, limits: ConnectionLimits | None = None) -> "FastAPI":
    """A FastAPI app serving `health` at GET /health, every request through guard.Gate; `app.state.guard`:
    its connections' guard."""
    from fastapi import FastAPI

    guard = ConnectionGuard(limits or ConnectionLimits())
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(Gate, guard=guard, token=token)
    app.state.guard = guard
    reply = health.model_dump(mode="json")

    async def health_route() -> dict[str, Any]:  # async: on the event loop, never behind pool work
        return reply

    app.get(HEALTH_PATH)(health_route)
    return app


async def read_model(request: Any, model: type[M], max_body_bytes: int) -> M:
    """The body as `model`: 415 unless application/json (a web page can POST text/plain to loopback without
    a CORS preflight, not JSON), 413 past `max_body_bytes` (streamed into the cap), 422 naming the field."""
    from fastapi import HTTPException

    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, f"content-type: expected application/json, got {media_type or 'none'!r}")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
        raise HTTPException(413, f"body: larger than {max_body_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body_bytes:
            raise HTTPException(413, f"body: larger than {max_body_bytes} bytes")
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise HTTPException(422, validation_text(exc)) from None


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one) for uvicorn. proto=IPPROTO_TCP on purpose:
    asyncio sets TCP_NODELAY on accepted connections only then; without it every reply waits ~40 ms (Nagle
    against the client's delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_QUEUE)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _uvicorn(app: Any) -> Any:
    """uvicorn for `app`, its connections watched by the app's guard (fitted to the descriptor limit here).
    uvicorn's `backlog` sets the listen queue too; deepened after start, a burst waits in the kernel."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            for sock in sockets or ():
                sock.listen(LISTEN_QUEUE)

    guard: ConnectionGuard | None = getattr(app.state, "guard", None)
    if guard is None:  # an app not built by make_app (test doubles of other servers, e.g. a fake vLLM)
        return Server(uvicorn.Config(app, log_level="warning", access_log=False))
    guard.start()
    return Server(uvicorn.Config(app, log_level="warning", access_log=False, backlog=ACCEPT_BURST,
                                 timeout_keep_alive=guard.limits.keep_alive_s, http=guarded_protocol(guard)))


def serve_forever(name: str, app: Any, sock: socket.socket, token: str | None, details: str) -> None:
    """Run `app` on `sock` until interrupted (the CLIs), announcing `name: listening on URL (details)`."""
    print(f"{name}: listening on {url_of(sock)} ({details}, token={'required' if token else 'none: loopback only'})",
          flush=True)
    try:
        _uvicorn(app).run(sockets=[sock])
    finally:
        sock.close()
    print(f"{name}: stopped", file=sys.stderr)


def launch(cmd: Sequence[str], *, env: dict[str, str] | None = None,
           timeout_s: float = 60) -> "tuple[subprocess.Popen[str], str]":
    """(process, URL) of a service CLI started as a subprocess, once it prints `listening on URL`;
    RuntimeError with its output if it exits or does not listen within `timeout_s`."""
    # errors="replace": one non-UTF-8 byte must not end the drain thread (a full pipe blocks the service)
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", env=env)
    seen: list[str] = []
    urls: list[str] = []
    done = threading.Event()  # it listens, or it exited

    def drain() -> None:  # all its output, for as long as it runs (a full pipe would block it)
        assert proc.stdout is not None
        for line in proc.stdout:
            if not done.is_set():  # afterwards: read and dropped
                seen.append(line)
                found = re.search(r"listening on (https?://\S+)", line)
                if found:
                    urls.append(found.group(1))
                    done.set()
        done.set()

    threading.Thread(target=drain, daemon=True, name="service-output").start()
    if done.wait(timeout_s) and urls:
        return proc, urls[0]
    stop_process(proc, timeout_s=5)
    raise RuntimeError(f"{' '.join(cmd[:5])} did not start listening:\n{''.join(seen)[-2000:]}")


def stop_process(proc: "subprocess.Popen[Any]", *, timeout_s: float = 30) -> None:
    """SIGINT (uvicorn shuts down cleanly), wait up to `timeout_s`, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class BackgroundServer:
    """`app` served on `sock` in a thread (tests, benchmarks); `stop()` ends it, then runs `on_stop`."""

    def __init__(self, app: Any, sock: socket.socket, name: str, on_stop: Callable[[], None]) -> None:
        self.app = app
        self.url = url_of(sock)
        self._sock = sock
        self._on_stop = on_stop
        self._server = _uvicorn(app)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=name)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"{name} did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
        self._on_stop()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- clients -------------------------------------------------------------------------------
class Retryable(Exception):
    """One failed attempt worth retrying on the next URL."""


class Refused(Exception):
    """A reply that retrying cannot fix (a 4xx other than 408/429): raised at once. `status`: its HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def parse_urls(urls: str | Sequence[str], key: str) -> tuple[str, ...]:
    """URLs from a list or a comma/space-separated string; ConfigError naming `key` if not http(s)."""
    found = urls.replace(",", " ").split() if isinstance(urls, str) else [str(u) for u in urls]
    if not found:
        raise ConfigError(f"{key}: give at least one service URL")
    for i, url in enumerate(found):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{key}[{i}]: expected an http(s):// URL, got {url!r}")
    return tuple(u.rstrip("/") for u in found)


def auth_headers(token: str | None, token_env: str) -> dict[str, str]:
    """The bearer header for `token` (default: env `token_env`); none without a token."""
    token = token if token is not None else os.environ.get(token_env)
    return {"Authorization": f"Bearer {token}"} if token else {}


class Rotation:
    """Where each request starts: the next URL in turn, from this process's RANK so ranks spread too."""

    def __init__(self) -> None:
        self._next = int(os.environ.get("RANK", "0") or 0)
        self._lock = threading.Lock()

    def take(self, n: int = 1) -> int:
        """The start of the first of `n` requests (the others: the following ones)."""
        with self._lock:
            start, self._next = self._next, self._next + n
        return start


@dataclass(frozen=True)
class WorstCase:
    """The longest one client call can take when every attempt fails or times out, and how that adds up."""

    seconds: float
    how: str


class Attempts:
    """`retries` + 1 attempts from urls[start], each retry on the next URL after an exponential backoff
    with jitter: iterate (url, seconds to wait first); record failures."""

    def __init__(self, urls: Sequence[str], start: int, retries: int, backoff_s: float) -> None:
        self.urls, self.start, self.retries, self.backoff_s = urls, start, retries, backoff_s
        self.began = time.monotonic()
        self.errors: list[tuple[str, str]] = []

    JITTER = 0.25  # a retry's backoff is stretched by up to this share

    def __iter__(self) -> Iterator[tuple[str, float]]:
        for attempt in range(self.retries + 1):
            delay = self.backoff_s * 2 ** (attempt - 1) * (1 + self.JITTER * random.random()) if attempt else 0.0
            yield self.urls[(self.start + attempt) % len(self.urls)], delay

    @classmethod
    def worst_case_s(cls, retries: int, backoff_s: float, attempt_s: float) -> float:
        """The longest `retries` + 1 attempts of at most `attempt_s` seconds each can take, backoff included."""
        backoff: float = sum(backoff_s * 2 ** (attempt - 1) * (1 + cls.JITTER) for attempt in range(1, retries + 1))
        return (retries + 1) * attempt_s + backoff

    def failed(self, url: str, exc: Exception) -> None:
        self.errors.append((url, str(exc)))

    def summary(self) -> str:
        """`URL[, URL] failed after N attempts (Ts): URL: last error`."""
        tried = ", ".join(dict.fromkeys(u for u, _ in self.errors))
        url, last = self.errors[-1]
        return (f"{tried} failed after {len(self.errors)} attempts ({time.monotonic() - self.began:.1f}s): "
                f"{url}: {last}")


def transport_failure(exc: Exception, timeout_s: float) -> Retryable:
    """A Retryable for an httpx error (connection refused, reset, timed out, ...)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return Retryable(f"timed out after {timeout_s:g}s ({type(exc).__name__})")
    return Retryable(f"{type(exc).__name__}: {exc}")


def reply_body(reply: Any, token_env: str) -> bytes:
    """The body of a 200 reply; Retryable for 408/429/5xx, Refused for any other status."""
    if reply.status_code == 200:
        return bytes(reply.content)
    try:
        detail = reply.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    detail = str(detail if detail is not None else reply.text)[:300]
    if reply.status_code in RETRY_STATUS:
        raise Retryable(f"HTTP {reply.status_code}: {detail}")
    hint = f" (set env {token_env})" if reply.status_code == 401 else ""
    raise Refused(f"refused the request: HTTP {reply.status_code}: {detail}{hint}", reply.status_code)
