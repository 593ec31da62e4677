"""The front door of pgrpo's HTTP services. `Gate` (ASGI middleware on the event loop, never behind pool
work): without a token only a loopback `Host` naming the bound port is answered (400: DNS rebinding), with
one every request needs it (401). `ConnectionGuard`: a connection without a complete request head within
`header_timeout_s` (of opening, or of its last reply plus keep-alive), or whose body is late, is dropped;
connections without a head are capped per peer and in total (past a cap the oldest goes), below the
descriptor limit (`descriptor_budget`, raised to the hard limit at start). `FairShare`: work slots
handed out round-robin over the clients.

Does NOT protect against: a flood from many addresses faster than the guard drops it (each address
holds at most `pending_per_peer` headless connections, all together at most half of `max_connections`),
nor a client that holds the token.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import resource
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Key = tuple[str, int]  # a connection: the peer's (address, port), as in the ASGI scope's "client"

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_FD_TARGET = 65536  # the soft limit asked for when the hard limit is unlimited
ACCEPT_BURST = 128  # connections asyncio accepts in one go (uvicorn's `backlog`), before the guard sees them
LISTEN_QUEUE = 2048  # the kernel's queue of connections not yet accepted (they hold no descriptor)
BODY_MIN_RATE = 1 << 20  # bytes/s a request body must at least arrive at (loopback and cluster networks)
UNKNOWN_BODY = 64 << 20  # the length assumed for a chunked body (the services' body cap)


@dataclass(frozen=True)
class ConnectionLimits:
    """body_timeout_s: after the head, plus the body's length at BODY_MIN_RATE (a trickled body holds nothing
    long); pending_per_peer: connections without a head per peer address; max_connections: all of them
    (lowered to the descriptor budget at start)."""

    header_timeout_s: float = 5.0
    body_timeout_s: float = 10.0  # plus BODY_MIN_RATE's time for the body's announced length
    keep_alive_s: int = 30
    pending_per_peer: int = 256
    max_connections: int = 4096


def descriptor_budget(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; the connections (at most `wanted`) that fit below
    it next to the open descriptors, an eighth (at least 64) for the service itself, and two accept bursts
    (asyncio accepts ACCEPT_BURST before the guard sees them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, DEFAULT_FD_TARGET)
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. above fs.nr_open: keep the soft limit in force
            pass
    if soft == resource.RLIM_INFINITY:
        soft = DEFAULT_FD_TARGET
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: assume few
        in_use = 32
    return max(8, min(wanted, soft - in_use - max(64, soft // 8) - 2 * ACCEPT_BURST))


@dataclass(slots=True, eq=False)
class _Conn:
    key: Key
    transport: asyncio.BaseTransport
    timer: asyncio.TimerHandle | None = None
    state: str = "fresh"  # fresh: no head yet; busy: in a request; idle: between requests


class ConnectionGuard:
    """Every open connection of one server, and the rules above. Called on the event loop only."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.max_connections = limits.max_connections
        self._all: dict[Key, _Conn] = {}
        self._fresh: OrderedDict[Key, _Conn] = OrderedDict()  # oldest first
        self._idle: OrderedDict[Key, _Conn] = OrderedDict()
        self._fresh_by_peer: dict[str, OrderedDict[Key, _Conn]] = {}
        self.dropped: Counter[str] = Counter()  # why connections were dropped (tests, logs)

    def start(self) -> None:
        """At server start: the descriptor limit raised, the connection cap fitted below it."""
        self.max_connections = descriptor_budget(self.limits.max_connections)

    def __len__(self) -> int:
        return len(self._all)

    def opened(self, key: Key, transport: asyncio.BaseTransport) -> None:
        conn = _Conn(key, transport)
        self._all[key] = conn
        self._wait(conn, "fresh", self.limits.header_timeout_s)
        peer = self._fresh_by_peer[key[0]]
        if len(peer) > self.limits.pending_per_peer:
            self._drop(next(iter(peer.values())), "peer cap")
        if len(self._fresh) > max(1, self.max_connections // 2):  # headless, all peers: half the cap
            self._drop(next(iter(self._fresh.values())), "pending cap")
        if len(self._all) > self.max_connections:
            oldest = self._fresh or self._idle
            self._drop(next(iter(oldest.values())) if oldest else conn, "connection cap")

    def closed(self, key: Key, transport: asyncio.BaseTransport) -> None:
        conn = self._all.get(key)
        if conn is not None and conn.transport is transport:
            self._forget(conn)

    def request_started(self, key: Key | None) -> None:
        conn = self._all.get(key) if key is not None else None
        if conn is not None:
            self._unwait(conn)
            conn.state = "busy"

    def body_expected(self, key: Key | None, length: int | None) -> None:
        """The request has a body (`length` bytes, None: chunked): it must arrive in time."""
        conn = self._all.get(key) if key is not None else None
        if conn is not None and conn.state == "busy":
            size = UNKNOWN_BODY if length is None else length
            deadline = self.limits.body_timeout_s + size / BODY_MIN_RATE
            conn.timer = asyncio.get_running_loop().call_later(deadline, self._expire, conn)

    def body_received(self, key: Key | None) -> None:
        conn = self._all.get(key) if key is not None else None
        if conn is not None and conn.state == "busy" and conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None

    def request_finished(self, key: Key | None) -> None:
        conn = self._all.get(key) if key is not None else None
        if conn is not None and conn.state == "busy" and not conn.transport.is_closing():
            self.body_received(key)  # a reply before the whole body (e.g. 413): no body timer left
            self._wait(conn, "idle", self.limits.keep_alive_s + self.limits.header_timeout_s)

    def _wait(self, conn: _Conn, state: str, timeout_s: float) -> None:
        conn.state = state
        (self._fresh if state == "fresh" else self._idle)[conn.key] = conn
        if state == "fresh":
            self._fresh_by_peer.setdefault(conn.key[0], OrderedDict())[conn.key] = conn
        conn.timer = asyncio.get_running_loop().call_later(timeout_s, self._expire, conn)

    def _unwait(self, conn: _Conn) -> None:
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        self._fresh.pop(conn.key, None)
        self._idle.pop(conn.key, None)
        peer = self._fresh_by_peer.get(conn.key[0])
        if peer is not None:
            peer.pop(conn.key, None)
            if not peer:
                del self._fresh_by_peer[conn.key[0]]

    def _forget(self, conn: _Conn) -> None:
        self._unwait(conn)
        self._all.pop(conn.key, None)

    def _expire(self, conn: _Conn) -> None:
        if self._all.get(conn.key) is conn:
            self._drop(conn, {"fresh": "header timeout", "idle": "idle timeout", "busy": "body timeout"}[conn.state])

    def _drop(self, conn: _Conn, why: str) -> None:
        self._forget(conn)
        self.dropped[why] += 1
        abort = getattr(conn.transport, "abort", None)  # a reset frees the descriptor at once
        (abort or conn.transport.close)()


def guarded_protocol(guard: ConnectionGuard) -> type:
    """uvicorn's HTTP/1.1 protocol class reporting each connection's opening and closing to `guard`."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.utils import get_remote_addr

    def connection_made(self: Any, transport: asyncio.BaseTransport) -> None:
        AutoHTTPProtocol.connection_made(self, transport)
        addr = get_remote_addr(transport)  # type: ignore[arg-type]
        self.guard_key = (str(addr[0]), int(addr[1])) if addr else None
        if self.guard_key is not None:
            guard.opened(self.guard_key, transport)

    def connection_lost(self: Any, exc: Exception | None) -> None:
        if getattr(self, "guard_key", None) is not None:
            guard.closed(self.guard_key, self.transport)
        AutoHTTPProtocol.connection_lost(self, exc)

    return type("GuardedHTTPProtocol", (AutoHTTPProtocol,),
                {"connection_made": connection_made, "connection_lost": connection_lost})


def host_allowed(host: str, server: tuple[str, int] | None) -> bool:
    """Whether `Host` is localhost, 127.0.0.1, [::1] or the bound address, with the bound port (none: 80)."""
    name, port = host.strip().lower(), "80"
    if name.startswith("["):
        name, _, rest = name[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                return False
            port = rest[1:]
    elif ":" in name:
        name, _, port = name.partition(":")
    if not port.isdigit() or not name:
        return False
    if server is None:  # e.g. a Unix socket: no port to compare
        return name in LOOPBACK_NAMES
    bound, bound_port = server[0].lower().strip("[]"), server[1]
    return (name in LOOPBACK_NAMES or name == bound) and int(port) == bound_port


class Gate:
    """ASGI middleware: Host and token checks before any route, each request reported to `guard`."""

    def __init__(self, app: ASGIApp, *, guard: ConnectionGuard, token: str | None) -> None:
        self.app = app
        self.guard = guard
        self.expected = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the same rules (our services have no websocket routes)
            if self._refusal(scope) is not None:
                await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = (str(client[0]), int(client[1])) if client else None
        self.guard.request_started(key)

        async def tracked(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.guard.request_finished(key)

        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, self._timed_body(scope, key, receive), tracked)
            return
        from starlette.responses import JSONResponse

        status, detail, extra = refusal
        response = JSONResponse({"detail": detail}, status, {"connection": "close", **extra})
        await response(scope, receive, tracked)

    def _timed_body(self, scope: Scope, key: Key | None, receive: Receive) -> Receive:
        """`receive`, with the request's body (if it has one) under the guard's body deadline."""
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            return receive
        size = int(length) if length is not None and length.isdigit() else None
        if size == 0:
            return receive
        self.guard.body_expected(key, size)
        pending = True

        async def timed() -> Message:
            nonlocal pending
            message = await receive()
            if pending and not (message["type"] == "http.request" and message.get("more_body", False)):
                pending = False
                self.guard.body_received(key)
            return message

        return timed

    def _refusal(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        headers = dict(scope.get("headers") or ())
        if self.expected is None:
            host = headers.get(b"host", b"").decode("latin-1")
            server = scope.get("server")
            if not host_allowed(host, (str(server[0]), int(server[1])) if server else None):
                port = server[1] if server else "PORT"
                return 400, (f"host: {host or 'none'!r} is not this service's loopback address; without a "
                             f"token only localhost:{port}, 127.0.0.1:{port} and [::1]:{port} are answered "
                             f"(a web page reaching it by DNS rebinding sends its own host name)"), {}
            return None
        scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(value, self.expected):
            return 401, "authorization: missing or wrong bearer token", {"www-authenticate": "Bearer"}
        return None


class FairShare:
    """`permits` work slots handed out one at a time, round-robin over the clients (peer addresses) waiting,
    so a newcomer waits for one slot, never for another's backlog. On the event loop."""

    def __init__(self, permits: int) -> None:
        if permits < 1:
            raise ValueError(f"permits: must be >= 1, got {permits}")
        self.permits = permits
        self.used = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()  # next client first

    def waiting(self, client: str | None = None) -> int:
        """Waiters in all (or one client's) queue(s)."""
        queues = self._waiting.values() if client is None else [self._waiting.get(client, deque())]
        return sum(1 for q in queues for f in q if not f.done())

    async def acquire(self, client: str) -> None:
        if self.used < self.permits and not self._waiting:
            self.used += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if client not in self._waiting:
            self._waiting[client] = deque()
            self._waiting.move_to_end(client, last=False)  # not served this round: next
        self._waiting[client].append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled: hand it on
                self.release()
            raise

    def release(self) -> None:
        self.used -= 1
        while self.used < self.permits and self._waiting:
            client, queue = next(iter(self._waiting.items()))
            future = queue.popleft()
            if queue:
                self._waiting.move_to_end(client)  # its next waiter queues behind the other clients
            else:
                del self._waiting[client]
            if not future.done():  # a cancelled waiter is skipped
                self.used += 1
                future.set_result(None)

    @asynccontextmanager
    async def slot(self, client: str) -> AsyncIterator[None]:
        await self.acquire(client)
        try:
            yield
        finally:
            self.release()
