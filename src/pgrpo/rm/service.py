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

Guards (pgrpo.serving's): 127.0.0.1 unless a shared token is set (`--token` or env
PGRPO_RM_TOKEN; every route 401 without it); bodies capped (413); a malformed request gets a
4xx naming the field. Here also: items per request and characters per field are capped; an
error in one request (even a failing forward pass: 500) never stops the service.

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
import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

import pgrpo
from pgrpo import serving
from pgrpo.errors import PgrpoError
from pgrpo.rm.scoring import RewardScorer, RMItem, sigmoid
from pgrpo.rm.template import EncodedInput
from pgrpo.rm.wire import (
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
    batcher = _Batcher(scorer, batch_tokens)
    app = serving.make_app("pgrpo rm", health, token)
    app.state.batcher = batcher

    @app.post(SCORE_PATH)
    async def score(request: Request) -> Response:
        req = await serving.read_model(request, ScoreRequest, max_body_bytes)
        if len(req.items) > max_items:
            raise HTTPException(422, f"items: {len(req.items)} items, at most {max_items} per request")
        items = [RMItem(i.statement, i.reasoning, i.code) for i in req.items]
        try:
            raw, truncated = await batcher.score(items) if items else ([], [])
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
    app = create_app(scorer, token=token, **limits)
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
                 **limits: int) -> None:
        check_binding(host, token)
        self.scorer = scorer
        app = create_app(scorer, token=token, **limits)
        super().__init__(app, serving.bind(host, port), "pgrpo-rm-service", app.state.batcher.close)
