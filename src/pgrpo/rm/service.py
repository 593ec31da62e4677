"""`pgrpo rm serve`: a reasoning reward model (either head) behind a small HTTP API (FastAPI + uvicorn).

Owns `create_app` (the routes of pgrpo.rm.wire's API over ONE `RewardScorer`), the token-budget
batcher, `serve` (the blocking server of the CLI) and `BackgroundService` (the same server in
a thread: tests, benchmarks). Scores are the in-process scorer's: same head, same encoding and
truncation (the manifest's max_length unless --max-length), same sigmoid. Each request's items
are encoded on arrival; requests waiting while the model is busy are then scored together, as
many as fit a token budget (`batch_tokens`, summed over the items' token counts; a request
larger than the budget runs alone), and the scorer cuts that group into its own padded batches.
One model runs one forward pass at a time (a single worker thread), so concurrent ranks share
it without contention on its weights.

Guards: binds 127.0.0.1 unless told otherwise, and binding any other address requires a
shared token (`--token` or env PGRPO_RM_TOKEN), checked with hmac.compare_digest on every
route (401 without it); request bodies are capped (413) and streamed into the cap; items per
request and characters per field are capped; a malformed request gets a 4xx whose message
names the field; an error in one request (even a failing forward pass: 500) never stops the
service.

Does NOT protect against: an attacker who holds the token (they can make it score anything and
use its GPU/CPU time); eavesdropping or tampering on the network (plain HTTP: no TLS; put it
behind a TLS proxy or keep it on a private network) - a tampering middlebox could change
rewards; denial of service by many concurrent clients (no per-client fairness or rate limits;
the queue is unbounded apart from each request's own size); a token leaked through the command
line (`--token` is visible in `ps`; prefer the env var); adversarial inputs crafted against the
RM itself (reward hacking is a training-time matter, not the service's).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError

import pgrpo
from pgrpo.errors import PgrpoError
from pgrpo.rm.scoring import RewardScorer, RMItem, sigmoid
from pgrpo.rm.template import EncodedInput
from pgrpo.rm.wire import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ITEMS,
    DEFAULT_PORT,
    HEALTH_PATH,
    SCORE_PATH,
    TOKEN_ENV,
    Health,
    ItemScore,
    ScoreRequest,
    ScoreResponse,
)

DEFAULT_BATCH_TOKENS = 65536


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """PgrpoError unless `host` is loopback or a token is set."""
    if not token and not is_loopback(host):
        raise PgrpoError(f"--host {host}: binding beyond loopback needs a shared token (--token or env "
                         f"{TOKEN_ENV}); anyone who can reach the port could score with (and load) the RM otherwise")


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ())).lstrip(".")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


@dataclass
class _Pending:
    encoded: list[EncodedInput]
    future: asyncio.Future[list[float]]

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.encoded)


class _Batcher:
    """Scores queued requests together, as many as fit `batch_tokens`, on one worker thread."""

    def __init__(self, scorer: RewardScorer, batch_tokens: int) -> None:
        self.scorer = scorer
        self.batch_tokens = batch_tokens
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="pgrpo-rm")  # one model, one pass at a time
        self.queue: asyncio.Queue[_Pending] | None = None
        self.task: asyncio.Task[None] | None = None
        self.batches = 0  # groups scored (tests, logs)

    async def score(self, items: Sequence[RMItem]) -> tuple[list[float], list[bool]]:
        loop = asyncio.get_running_loop()
        if self.queue is None:  # created on the server's own loop
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._run())
        encoded = await loop.run_in_executor(self.executor, self.scorer.encode_items, items)
        pending = _Pending(encoded, loop.create_future())
        await self.queue.put(pending)
        raw = await pending.future
        return raw, [e.truncated for e in encoded]

    async def _run(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        carry: _Pending | None = None
        while True:
            first = carry if carry is not None else await self.queue.get()
            carry = None
            group, tokens = [first], first.tokens
            while not self.queue.empty():
                nxt = self.queue.get_nowait()
                if tokens + nxt.tokens > self.batch_tokens:
                    carry = nxt
                    break
                group.append(nxt)
                tokens += nxt.tokens
            encoded = [e for p in group for e in p.encoded]
            try:
                raw = await loop.run_in_executor(self.executor, self.scorer.raw_scores_encoded, encoded)
            except Exception as exc:  # noqa: BLE001 - reported to each waiting request (500), service lives on
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for p in group:
                if not p.future.done():  # the client may have gone away
                    p.future.set_result(raw[start:start + len(p.encoded)])
                start += len(p.encoded)

    def close(self) -> None:
        """After the server stopped (its loop has cancelled the task): release the worker thread."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def create_app(scorer: RewardScorer, *, token: str | None = None, max_items: int = DEFAULT_MAX_ITEMS,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, batch_tokens: int = DEFAULT_BATCH_TOKENS) -> FastAPI:
    """The FastAPI app serving `scorer` (which the caller owns). `app.state.batcher` scores."""
    if max_items < 1 or max_body_bytes < 1 or batch_tokens < 1:
        raise PgrpoError("max_items / max_body_bytes / batch_tokens: must be >= 1")
    health = Health(pgrpo_version=pgrpo.__version__, manifest=asdict(scorer.manifest), max_items=max_items,
                    max_body_bytes=max_body_bytes, max_length=scorer.max_length)
    expected = token.encode() if token else None
    batcher = _Batcher(scorer, batch_tokens)
    app = FastAPI(title="pgrpo rm", version=str(health.api_version), docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.batcher = batcher

    def authorize(request: Request) -> None:
        if expected is not None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), expected):
                raise HTTPException(401, "authorization: missing or wrong bearer token",
                                    headers={"WWW-Authenticate": "Bearer"})

    @app.get(HEALTH_PATH)
    def get_health(request: Request) -> dict:
        authorize(request)
        return health.model_dump(mode="json")

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            raise HTTPException(413, f"body: larger than {max_body_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise HTTPException(413, f"body: larger than {max_body_bytes} bytes")
        return bytes(body)

    def parse(body: bytes) -> list[RMItem]:
        try:
            req = ScoreRequest.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(422, _validation_text(exc)) from None
        if len(req.items) > max_items:
            raise HTTPException(422, f"items: {len(req.items)} items, at most {max_items} per request")
        return [RMItem(i.statement, i.reasoning, i.code) for i in req.items]

    @app.post(SCORE_PATH)
    async def score(request: Request) -> Response:
        authorize(request)
        items = parse(await read_body(request))
        try:
            raw, truncated = await batcher.score(items) if items else ([], [])
        except Exception as exc:  # noqa: BLE001 - a failing forward pass is this request's 500, not a crash
            raise HTTPException(500, f"scoring failed: {type(exc).__name__}: {exc}") from None
        reply = ScoreResponse(results=[ItemScore(raw=r, score=s, truncated=t)
                                       for r, s, t in zip(raw, sigmoid(raw), truncated)])
        return Response(reply.model_dump_json(), media_type="application/json")

    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(app: Any) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30))


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(scorer: RewardScorer, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
          **limits: int) -> None:
    """Run the service until interrupted (the CLI). Prints its URL once listening (port 0: a free port).
    `limits`: max_items, max_body_bytes, batch_tokens (see create_app)."""
    check_binding(host, token)
    sock = _bind(host, port)
    app = create_app(scorer, token=token, **limits)
    m = scorer.manifest
    print(f"pgrpo rm serve: listening on {_url(sock)} (head={m.head}, include_code={str(m.include_code).lower()}, "
          f"max_length={scorer.max_length}, device={scorer.device}, "
          f"token={'required' if token else 'none: loopback only'})", flush=True)
    try:
        _server(app).run(sockets=[sock])
    finally:
        sock.close()
        app.state.batcher.close()
    print("pgrpo rm serve: stopped", file=sys.stderr)


class BackgroundService:
    """The service in a thread on loopback (port 0: a free one), over a given scorer (tests, benchmarks).

    with BackgroundService(RewardScorer(rm_dir), token="t") as svc:
        ... svc.url ...
    """

    def __init__(self, scorer: RewardScorer, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 **limits: int) -> None:
        check_binding(host, token)
        self.scorer = scorer
        self._sock = _bind(host, port)
        self.url = _url(self._sock)
        self.app = create_app(scorer, token=token, **limits)
        self._server = _server(self.app)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="pgrpo-rm-service")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError("rm service did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
        self.app.state.batcher.close()

    def __enter__(self) -> BackgroundService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
