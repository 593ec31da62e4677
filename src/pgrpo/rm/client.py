"""The client of `pgrpo rm serve`: `RMClient`, a scorer with `RewardScorer`'s scoring API over HTTP.

    client = RMClient(["http://10.0.0.5:8767", "http://10.0.0.6:8767"])   # token: env PGRPO_RM_TOKEN
    client.manifest            # the served RM's manifest, read from /health (every URL must agree)
    client.score(items)        # sigmoid scores, order kept; also `raw_scores`, `await ascore(items)`

Owns the asynchronous transport (httpx.AsyncClient on the client's own event-loop thread, so
the synchronous `score` works from TRL's reward path and `ascore` from any event loop),
batching (items cut into requests of `items_per_request`, all sent concurrently, at most
`max_concurrency` in flight), load spreading (request i goes to the next URL in turn, the
rotation starting at this process's rank so ranks spread too), timeouts, and retries with
exponential backoff (+ jitter), each retry on the next URL: connection errors, timeouts, 5xx,
408/429 and garbage replies are retried; any other 4xx is our bug and raises at once with the
service's message. A service that keeps failing raises `RMServiceError` naming the URL(s) and
the last error - never a silent reward of 0. Items are sent on the manifest's layout (code
only when it says include_code); `truncated` counts items the service cut, as RewardScorer's.

Does NOT protect against: a service that lies coherently (it is trusted like a local model);
eavesdropping or tampering on the network (plain HTTP unless the URL is https).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from pgrpo.config import ConfigError, build_dataclass
from pgrpo.errors import PgrpoError
from pgrpo.rm.manifest import RMManifest
from pgrpo.rm.scoring import RMItem
from pgrpo.rm.wire import API_VERSION, HEALTH_PATH, SCORE_PATH, TOKEN_ENV, Health, ItemScore, ScoreResponse

RETRY_STATUS = {408, 429, 500, 502, 503, 504}
T = TypeVar("T")


class RMServiceError(PgrpoError):
    """A reward-model service failed (after the retries), refused the request, or returned garbage."""


class _Retryable(Exception):
    """One failed attempt worth retrying (on the next URL)."""


def parse_urls(urls: str | Sequence[str], key: str = "reward.rm_url") -> tuple[str, ...]:
    """URLs from a list or a comma/space-separated string; ConfigError naming `key` if not http(s)."""
    found = urls.replace(",", " ").split() if isinstance(urls, str) else [str(u) for u in urls]
    if not found:
        raise ConfigError(f"{key}: give at least one `pgrpo rm serve` URL")
    for i, url in enumerate(found):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{key}[{i}]: expected an http(s):// URL, got {url!r}")
    return tuple(u.rstrip("/") for u in found)


class RMClient:
    """Scores `RMItem`s with the RM behind one or more `pgrpo rm serve` URLs."""

    def __init__(self, urls: str | Sequence[str], *, token: str | None = None, items_per_request: int = 64,
                 timeout_s: float = 300.0, retries: int = 3, backoff_s: float = 1.0,
                 max_concurrency: int = 8) -> None:
        if items_per_request < 1 or timeout_s <= 0 or retries < 0 or backoff_s < 0 or max_concurrency < 1:
            raise PgrpoError("RMClient: items_per_request, max_concurrency >= 1; timeout_s > 0; "
                             "retries, backoff_s >= 0")
        self.urls = parse_urls(urls)
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.items_per_request = items_per_request
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_concurrency = max_concurrency
        self.calls = 0  # items scored
        self.truncated = 0  # items the service cut to its max_length
        self._next = int(os.environ.get("RANK", "0") or 0)  # ranks start their rotation apart
        self._manifest: RMManifest | None = None
        self._max_length: int | None = None
        self._http: Any = None  # httpx.AsyncClient, created on the loop thread
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="pgrpo-rm-client")
        self._thread.start()

    # -- public API ------------------------------------------------------------------------
    @property
    def manifest(self) -> RMManifest:
        """The served RM's manifest (from /health, once); every URL must serve the same RM."""
        if self._manifest is None:
            self._manifest, self._max_length = self._run(self._read_manifest())
        return self._manifest

    @property
    def max_length(self) -> int:
        """Tokens per item the service scores with (`pgrpo rm serve --max-length`, default the manifest's)."""
        if self._max_length is None:
            _ = self.manifest
        assert self._max_length is not None
        return self._max_length

    def score_items(self, items: Sequence[RMItem]) -> list[ItemScore]:
        return self._run(self._score(list(items)))

    def raw_scores(self, items: Sequence[RMItem]) -> list[float]:
        return [r.raw for r in self.score_items(items)]

    def score(self, items: Sequence[RMItem]) -> list[float]:
        """sigmoid(raw score) in [0, 1] per item, order kept (computed by the service)."""
        return [r.score for r in self.score_items(items)]

    async def ascore(self, items: Sequence[RMItem]) -> list[float]:
        """`score` from any event loop (the work runs on the client's own loop)."""
        future = asyncio.run_coroutine_threadsafe(self._score(list(items)), self._loop)
        return [r.score for r in await asyncio.wrap_future(future)]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._http is not None:
            self._run(self._http.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> RMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            raise PgrpoError("RMClient: used after close()")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _client(self) -> Any:
        import httpx

        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self.timeout_s,
                                                                                  connect=min(10.0, self.timeout_s)))
        return self._http

    def _start(self) -> int:
        start, self._next = self._next, self._next + 1
        return start

    async def _with_retries(self, urls: tuple[str, ...], start: int, attempt_at: Any) -> Any:
        """attempt_at(url) on urls[start], then the next ones, with backoff; RMServiceError at the end."""
        tried: list[str] = []
        last = ""
        began = time.monotonic()
        for attempt in range(self.retries + 1):
            url = urls[(start + attempt) % len(urls)]
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1) * (1 + 0.25 * random.random()))
            try:
                return await attempt_at(url)
            except _Retryable as exc:
                last = f"{url}: {exc}"
                if url not in tried:
                    tried.append(url)
        raise RMServiceError(f"reward-model service {', '.join(tried)} failed after {self.retries + 1} attempts "
                             f"({time.monotonic() - began:.1f}s): {last}; no thinking reward can be computed, so the "
                             f"step fails (is `pgrpo rm serve` running there?)")

    async def _request(self, method: str, url: str, path: str, body: dict | None = None) -> bytes:
        import httpx

        try:
            reply = await self._client().request(method, url + path, json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.timeout_s:g}s ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        if reply.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {reply.status_code}: {_detail(reply)}")
        if reply.status_code != 200:
            raise RMServiceError(f"reward-model service {url}{path}: HTTP {reply.status_code}: {_detail(reply)}")
        return reply.content

    async def _read_manifest(self) -> tuple[RMManifest, int]:
        """(manifest, max_length) every URL serves (RMServiceError when they differ)."""
        found: dict[str, tuple[RMManifest, int]] = {}
        for url in self.urls:
            async def attempt(u: str) -> Health:
                try:
                    return Health.model_validate_json(await self._request("GET", u, HEALTH_PATH))
                except ValidationError as exc:
                    raise _Retryable(f"unreadable /health reply: {exc.errors()[:1]}") from None

            health = await self._with_retries((url,), 0, attempt)  # every URL's /health must be read
            if health.api_version != API_VERSION:
                raise RMServiceError(f"reward-model service {url}: speaks API version {health.api_version}, "
                                     f"this pgrpo speaks {API_VERSION}")
            try:
                manifest = build_dataclass(RMManifest, health.manifest, prefix=f"{url}{HEALTH_PATH} manifest")
            except (ConfigError, ValueError) as exc:
                raise RMServiceError(str(exc)) from None
            found[url] = (manifest, health.max_length)
        first_url, first = next(iter(found.items()))
        for url, served in found.items():
            if served != first:
                raise RMServiceError(f"reward-model services {first_url} and {url} serve different RMs "
                                     f"(manifest, max_length: {first} vs {served}); every reward.rm_url must serve "
                                     f"the same one")
        return first

    async def _score(self, items: list[RMItem]) -> list[ItemScore]:
        if self._manifest is None:
            self._manifest, self._max_length = await self._read_manifest()
        manifest = self._manifest
        chunks = [items[i:i + self.items_per_request] for i in range(0, len(items), self.items_per_request)]
        limit = asyncio.Semaphore(self.max_concurrency)

        async def send(chunk: list[RMItem], start: int) -> list[ItemScore]:
            body = {"items": [{"statement": it.statement, "reasoning": it.reasoning,
                               "code": it.code if manifest.include_code else None} for it in chunk]}

            async def attempt(url: str) -> list[ItemScore]:
                raw = await self._request("POST", url, SCORE_PATH, body)
                try:
                    reply = ScoreResponse.model_validate_json(raw)
                except ValidationError as exc:
                    raise _Retryable(f"garbage reply: {exc.errors()[:1]}") from None
                if len(reply.results) != len(chunk):
                    raise _Retryable(f"garbage reply: {len(reply.results)} results for {len(chunk)} items")
                return reply.results

            async with limit:
                return await self._with_retries(self.urls, start, attempt)

        parts: list[Awaitable[list[ItemScore]]] = [send(c, self._start()) for c in chunks]
        results = [r for part in await asyncio.gather(*parts) for r in part]
        self.calls += len(items)
        self.truncated += sum(r.truncated for r in results)
        return results


def _detail(reply: Any) -> str:
    try:
        detail = reply.json().get("detail")
    except ValueError:
        detail = None
    return str(detail if detail is not None else reply.text[:200])
