"""The client of `pgrpo rm serve` (or vLLM, pgrpo.rm.backends): `RMClient`, `RewardScorer`'s scoring API
over HTTP. Owns the async transport (its own event-loop thread), batching into concurrent requests,
whole-attempt timeouts (`score_worst_case`) and retries on the next URL; a failing service raises
`RMServiceError` naming the URL, never a silent reward of 0.

Does NOT protect against: a service that lies coherently (trusted like a local model);
eavesdropping or tampering on the network (plain HTTP unless the URL is https).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pgrpo import serving
from pgrpo.errors import PgrpoError
from pgrpo.rm.backends import TOKEN_ENV, ItemScore, PgrpoBackend, RMBackend, RMBackendError
from pgrpo.rm.manifest import RMManifest
from pgrpo.rm.scoring import RMItem
from pgrpo.serving import Retryable

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 180.0  # per attempt: a hung service, not a busy one (one RM GPU serving 8 ranks queues requests)
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 1.0
DEFAULT_MAX_CONCURRENCY = 8


class RMServiceError(PgrpoError):
    """A reward-model service failed (after the retries), refused the request, or returned garbage."""


class RMClient:
    """Scores `RMItem`s with the RM behind one or more URLs of `backend` (default `pgrpo rm serve`)."""

    def __init__(self, urls: str | Sequence[str], *, token: str | None = None, items_per_request: int = 64,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES,
                 backoff_s: float = DEFAULT_BACKOFF_S, max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
                 backend: RMBackend | None = None) -> None:
        if items_per_request < 1 or timeout_s <= 0 or retries < 0 or backoff_s < 0 or max_concurrency < 1:
            raise PgrpoError("RMClient: items_per_request, max_concurrency >= 1; timeout_s > 0; "
                             "retries, backoff_s >= 0")
        self.urls = serving.parse_urls(urls, "reward.rm_url")
        self.backend: RMBackend = backend or PgrpoBackend()
        self._headers = serving.auth_headers(token, TOKEN_ENV)
        self.items_per_request = items_per_request
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_concurrency = max_concurrency
        self.calls = 0  # items scored
        self.truncated = 0  # items the service cut to its max_length
        self._rotation = serving.Rotation()
        self._served: tuple[RMManifest, int] | None = None  # (manifest, max_length), read once
        self._http: Any = None  # httpx.AsyncClient, created on the loop thread
        # builds request bodies (the vLLM backend tokenises): off the event loop, one at a time
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgrpo-rm-encode")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="pgrpo-rm-client")
        self._thread.start()

    @property
    def manifest(self) -> RMManifest:
        """The served RM's manifest (from /health, once); every URL must serve the same RM."""
        return (self._served or self._run(self._read_served()))[0]

    @property
    def max_length(self) -> int:
        """Tokens per item the service scores with (`pgrpo rm serve --max-length`, default the manifest's)."""
        return (self._served or self._run(self._read_served()))[1]

    def score_items(self, items: Sequence[RMItem]) -> list[ItemScore]:
        return self._run(self._score(list(items)))

    def raw_scores(self, items: Sequence[RMItem]) -> list[float]:
        return [r.raw for r in self.score_items(items)]

    def score(self, items: Sequence[RMItem]) -> list[float]:
        """sigmoid(raw score) in [0, 1] per item, order kept (computed by the service)."""
        return [r.score for r in self.score_items(items)]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._http is not None:
            self._run(self._http.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._encoder.shutdown(wait=False)

    def __enter__(self) -> RMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            raise PgrpoError("RMClient: used after close()")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _client(self) -> Any:
        import httpx

        if self._http is None:
            timeout = httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s))
            self._http = httpx.AsyncClient(headers=self._headers, timeout=timeout)
        return self._http

    async def _with_retries(self, urls: tuple[str, ...], start: int, attempt_at: Any) -> Any:
        """attempt_at(url) on urls[start], then the next ones, with backoff; RMServiceError at the end."""
        attempts = serving.Attempts(urls, start, self.retries, self.backoff_s)
        for url, delay in attempts:
            await asyncio.sleep(delay)
            try:
                return await attempt_at(url)
            except Retryable as exc:
                attempts.failed(url, exc)
        raise RMServiceError(f"reward-model service {attempts.summary()}; no thinking reward can be computed, so the "
                             f"step fails (is {self.backend.server} running there?)")

    async def _request(self, method: str, url: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        import httpx

        try:  # httpx's timeouts are per connect / read / write; wait_for bounds the whole attempt
            reply = await asyncio.wait_for(self._client().request(method, url + path, json=body), self.timeout_s)
        except httpx.HTTPError as exc:
            raise serving.transport_failure(exc, self.timeout_s) from None
        except TimeoutError:
            raise Retryable(f"timed out after {self.timeout_s:g}s (no whole reply)") from None
        try:
            return serving.reply_body(reply, TOKEN_ENV)
        except serving.Refused as exc:
            raise RMServiceError(f"reward-model service {url}{path} {exc}") from None

    async def _read_served(self) -> tuple[RMManifest, int]:
        """(manifest, max_length) every URL serves, kept (RMServiceError when they differ)."""
        found: dict[str, tuple[RMManifest, int]] = {}
        attempt = functools.partial(self.backend.served, get=functools.partial(self._request, "GET"))
        for url in self.urls:
            try:  # every URL's health must be read
                found[url] = await self._with_retries((url,), 0, attempt)
            except RMBackendError as exc:
                raise RMServiceError(str(exc)) from None
        first_url, first = next(iter(found.items()))
        for url, served in found.items():
            if served != first:
                raise RMServiceError(f"reward-model services {first_url} and {url} serve different RMs "
                                     f"(manifest, max_length: {first} vs {served}); every reward.rm_url must serve "
                                     f"the same one")
        self._served = first
        return first

    async def _score(self, items: list[RMItem]) -> list[ItemScore]:
        manifest = (self._served or await self._read_served())[0]
        chunks = [items[i:i + self.items_per_request] for i in range(0, len(items), self.items_per_request)]
        limit = asyncio.Semaphore(self.max_concurrency)

        loop = asyncio.get_running_loop()

        async def send(chunk: list[RMItem], start: int) -> list[ItemScore]:
            # built on the encoder thread: a backend may tokenise (vLLM), which must not stall the loop
            path, body, parse = await loop.run_in_executor(self._encoder, self.backend.request, chunk, manifest)

            async def attempt(url: str) -> list[ItemScore]:
                raw = await self._request("POST", url, path, body)
                try:
                    return parse(raw)
                except RMBackendError as exc:
                    raise RMServiceError(f"reward-model service {url}: {exc}") from None

            async with limit:
                scores: list[ItemScore] = await self._with_retries(self.urls, start, attempt)
                return scores

        parts: list[Awaitable[list[ItemScore]]] = [send(c, self._rotation.take()) for c in chunks]
        results = [r for part in await asyncio.gather(*parts) for r in part]
        self.calls += len(items)
        self.truncated += sum(r.truncated for r in results)
        return results


def score_worst_case(n_items: int, *, items_per_request: int, timeout_s: float = DEFAULT_TIMEOUT_S,
                     retries: int = DEFAULT_RETRIES, backoff_s: float = DEFAULT_BACKOFF_S,
                     max_concurrency: int = DEFAULT_MAX_CONCURRENCY) -> serving.WorstCase:
    """The longest one `RMClient.score` of `n_items` can take (its manifest already read) when every
    attempt of every request times out: the requests go `max_concurrency` at a time, in rounds."""
    requests = max(1, -(-n_items // items_per_request))
    rounds = -(-requests // max_concurrency)
    per_request = serving.Attempts.worst_case_s(retries, backoff_s, timeout_s)
    return serving.WorstCase(
        rounds * per_request,
        f"{requests} request(s) of <= {items_per_request} items, <= {max_concurrency} at once: {rounds} round(s) "
        f"x {retries + 1} attempts x {timeout_s:g} s + backoff = {rounds * per_request:.1f} s")
