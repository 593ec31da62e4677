"""`pgrpo rm serve`: one `RewardScorer` (either head) behind pgrpo.rm.backends' API (FastAPI + uvicorn).
Owns `create_app`, the token-budget batcher (waiting requests scored together, round-robin over
clients, one forward pass at a time), `serve` and `BackgroundService`. Guards are pgrpo.serving's
(loopback unless a token is set, body / item / field caps, a bad request is a 4xx, a failing pass a 500).

Does NOT protect against: an attacker who holds the token; eavesdropping or tampering (plain HTTP: a
middlebox could change rewards; use a TLS proxy or a private network); a flood from many addresses (no
rate limits; the queue is bounded only by each request's size; clients behind one address share one
turn); a token visible in `ps` (`--token`; prefer the env var); inputs crafted against the RM itself.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

import pgrpo
from pgrpo import serving
from pgrpo.errors import PgrpoError
from pgrpo.rm.backends import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ITEMS,
    DEFAULT_PORT,
    SCORE_PATH,
    TOKEN_ENV,
    Health,
    ItemScore,
    ScoreRequest,
    ScoreResponse,
)
from pgrpo.rm.scoring import RewardScorer, RMItem, sigmoid
from pgrpo.rm.template import EncodedInput
from pgrpo.serving.guard import ConnectionLimits

DEFAULT_BATCH_TOKENS = 65536
check_binding = functools.partial(serving.check_binding, token_env=TOKEN_ENV, risk="score with (and load) the RM")


@dataclass
class _Pending:
    encoded: list[EncodedInput]
    future: asyncio.Future[list[float]]

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.encoded)


class _Batcher:
    """Scores queued requests together, as many as fit `batch_tokens`, on one worker thread; a group
    takes one request of each waiting client in turn (round-robin; a client that was not waiting
    goes first), then the next of each."""

    def __init__(self, scorer: RewardScorer, batch_tokens: int) -> None:
        self.scorer = scorer
        self.batch_tokens = batch_tokens
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="pgrpo-rm")  # one model, one pass at a time
        self.waiting: OrderedDict[str, deque[_Pending]] = OrderedDict()  # by client, next client first
        self.task: asyncio.Task[None] | None = None  # scores groups while any request waits
        self.batches = 0  # groups scored (tests, logs)

    async def score(self, items: Sequence[RMItem], client: str = "?") -> tuple[list[float], list[bool]]:
        loop = asyncio.get_running_loop()
        encoded = await loop.run_in_executor(self.executor, self.scorer.encode_items, items)
        pending = _Pending(encoded, loop.create_future())
        if client not in self.waiting:
            self.waiting[client] = deque()
            self.waiting.move_to_end(client, last=False)  # not served this round: next
        self.waiting[client].append(pending)
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._drain())
        raw = await pending.future
        return raw, [e.truncated for e in encoded]

    def _group(self) -> list[_Pending]:
        """The next group: round-robin over clients while it fits the budget (a first request that
        alone exceeds it runs alone); a request that does not fit leads the next group."""
        group: list[_Pending] = []
        tokens = 0
        while self.waiting:
            client, queue = next(iter(self.waiting.items()))
            if group and tokens + queue[0].tokens > self.batch_tokens:
                break
            nxt = queue.popleft()
            group.append(nxt)
            tokens += nxt.tokens
            if queue:
                self.waiting.move_to_end(client)
            else:
                del self.waiting[client]
        return group

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.waiting:
            group = self._group()
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
        """After the server stopped (its loop has cancelled any task): release the worker thread."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def create_app(scorer: RewardScorer, *, token: str | None = None, max_items: int = DEFAULT_MAX_ITEMS,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, batch_tokens: int = DEFAULT_BATCH_TOKENS,
               connections: ConnectionLimits | None = None) -> FastAPI:
    """The FastAPI app serving `scorer` (which the caller owns). `app.state.batcher` scores."""
    if max_items < 1 or max_body_bytes < 1 or batch_tokens < 1:
        raise PgrpoError("max_items / max_body_bytes / batch_tokens: must be >= 1")
    health = Health(pgrpo_version=pgrpo.__version__, manifest=asdict(scorer.manifest), max_items=max_items,
                    max_body_bytes=max_body_bytes, max_length=scorer.max_length)
    batcher = _Batcher(scorer, batch_tokens)
    app = serving.make_app("pgrpo rm", health, token, connections)
    app.state.batcher = batcher

    @app.post(SCORE_PATH)
    async def score(request: Request) -> Response:
        req = await serving.read_model(request, ScoreRequest, max_body_bytes)
        if len(req.items) > max_items:
            raise HTTPException(422, f"items: {len(req.items)} items, at most {max_items} per request")
        items = [RMItem(i.statement, i.reasoning, i.code) for i in req.items]
        try:
            client = request.client.host if request.client else "?"
            raw, truncated = await batcher.score(items, client) if items else ([], [])
        except Exception as exc:  # noqa: BLE001 - a failing forward pass is this request's 500, not a crash
            raise HTTPException(500, f"scoring failed: {type(exc).__name__}: {exc}") from None
        reply = ScoreResponse(results=[ItemScore(raw=r, score=s, truncated=t)
                                       for r, s, t in zip(raw, sigmoid(raw), truncated)])
        return Response(reply.model_dump_json(), media_type="application/json")

    return app


def serve(scorer: RewardScorer, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
          **limits: int) -> None:
    """Run the service until interrupted (the CLI). Prints its URL once listening (port 0: a free port).
    `limits`: max_items, max_body_bytes, batch_tokens (see create_app)."""
    check_binding(host, token)
    app = create_app(scorer, token=token, connections=None, **limits)
    m = scorer.manifest
    try:
        serving.serve_forever("pgrpo rm serve", app, serving.bind(host, port), token,
                              f"head={m.head}, include_code={str(m.include_code).lower()}, "
                              f"max_length={scorer.max_length}, device={scorer.device}")
    finally:
        app.state.batcher.close()


class BackgroundService(serving.BackgroundServer):
    """The service in a thread on loopback (port 0: a free one), over a given scorer (tests, benchmarks).

    with BackgroundService(RewardScorer(rm_dir), token="t") as svc:
        ... svc.url ...
    """

    def __init__(self, scorer: RewardScorer, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 connections: ConnectionLimits | None = None, **limits: int) -> None:
        check_binding(host, token)
        self.scorer = scorer
        app = create_app(scorer, token=token, connections=connections, **limits)
        super().__init__(app, serving.bind(host, port), "pgrpo-rm-service", app.state.batcher.close)
