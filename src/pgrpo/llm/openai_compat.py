"""The `openai` backend: any OpenAI-compatible chat-completions endpoint over HTTP.

Owns `OpenAIBackend`: stdlib only (urllib in worker threads driven by asyncio, with a
semaphore bounding concurrent requests), per-request timeout, retries with exponential
backoff + jitter on 429 / 5xx / timeouts / connection errors / malformed or empty responses
(honouring Retry-After), and per-item error results once retries are exhausted. Other 4xx
(bad request, auth) are not retried. The API key is read from an environment variable
(`api_key_env`, default OPENAI_API_KEY); it is optional for local servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.llm.base import BACKENDS, BackendError, ChatBackend
from pgrpo.llm.types import ChatRequest, ChatResult

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt: a result, or an error and whether retrying may help."""

    result: ChatResult | None = None
    error: str = ""
    retryable: bool = False
    retry_after: float | None = None


def parse_completion(body: bytes, n: int) -> ChatResult:
    """Decode a chat.completion response body; raise ValueError when malformed or empty."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed JSON response: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("malformed response: not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ValueError("empty response: no choices")
    ordered = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    texts = []
    for choice in ordered:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise ValueError("malformed response: a choice has no message content")
        texts.append(content)
    if len(texts) < n:
        raise ValueError(f"response has {len(texts)} choices, expected n={n}")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return ChatResult(texts[:n], None, False, int(usage.get("prompt_tokens") or 0),
                      int(usage.get("completion_tokens") or 0))


@BACKENDS.register("openai")
class OpenAIBackend(ChatBackend):
    """POSTs to `{base_url}/chat/completions` for `model`."""

    name = "openai"

    def __init__(self, model: str, *, base_url: str = "https://api.openai.com/v1",
                 api_key_env: str = "OPENAI_API_KEY", require_key: bool = False, concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 5, backoff: float = 1.0,
                 max_backoff: float = 30.0, send_seed: bool = True) -> None:
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise BackendError("openai backend: need concurrency >= 1, max_retries >= 0, timeout > 0")
        self.model = str(model)
        self.base_url = base_url.rstrip("/")
        self.api_key = os.environ.get(api_key_env, "")
        if require_key and not self.api_key:
            raise BackendError(f"openai backend: environment variable {api_key_env} is not set")
        self.concurrency = int(concurrency)
        self.chunk_size = max(4 * self.concurrency, 16)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.send_seed = send_seed

    # -- one request -------------------------------------------------------------------
    def payload(self, req: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in req.messages],
            "temperature": req.temperature,
            "top_p": req.top_p,
            "max_tokens": req.max_tokens,
            "n": req.n,
        }
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None and self.send_seed:
            body["seed"] = req.seed
        return body

    def _post_once(self, req: ChatRequest) -> Attempt:
        """Blocking single attempt (runs in a worker thread)."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(self.payload(req)).encode("utf-8")
        http = urllib.request.Request(f"{self.base_url}/chat/completions", data=data, headers=headers,
                                      method="POST")
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as resp:  # noqa: S310 - URL from config
                body = resp.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            return Attempt(error=f"HTTP {exc.code}: {detail}", retryable=exc.code in RETRY_STATUS,
                           retry_after=retry_after)
        except TimeoutError:
            return Attempt(error=f"timeout after {self.timeout:g}s", retryable=True)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return Attempt(error=f"timeout after {self.timeout:g}s", retryable=True)
            return Attempt(error=f"connection error: {reason}", retryable=True)
        except (ConnectionError, OSError) as exc:
            return Attempt(error=f"connection error: {exc}", retryable=True)
        try:
            return Attempt(result=parse_completion(body, req.n))
        except ValueError as exc:
            return Attempt(error=str(exc), retryable=True)

    async def _request(self, req: ChatRequest, sem: asyncio.Semaphore) -> ChatResult:
        errors = []
        for attempt in range(self.max_retries + 1):
            async with sem:
                outcome = await asyncio.to_thread(self._post_once, req)
            if outcome.result is not None:
                return outcome.result
            errors.append(outcome.error)
            if not outcome.retryable or attempt == self.max_retries:
                break
            delay = min(self.max_backoff, self.backoff * (2 ** attempt)) * (0.5 + random.random() / 2)  # noqa: S311
            if outcome.retry_after is not None:
                delay = min(self.max_backoff, max(delay, outcome.retry_after))
            await asyncio.sleep(delay)
        tries = len(errors)
        return ChatResult([], f"openai: failed after {tries} attempt{'s' * (tries > 1)}: {errors[-1]}")

    # -- batch -------------------------------------------------------------------------
    async def _run_all(self, requests: Sequence[ChatRequest], progress: bool) -> list[ChatResult]:
        from tqdm.auto import tqdm

        sem = asyncio.Semaphore(self.concurrency)
        bar = tqdm(total=len(requests), desc=f"openai:{self.model}", unit="req", disable=not progress)

        async def one(req: ChatRequest) -> ChatResult:
            try:
                return await self._request(req, sem)
            except Exception as exc:  # noqa: BLE001 - an unexpected bug stays a per-item error
                return ChatResult([], f"openai: {type(exc).__name__}: {exc}")
            finally:
                bar.update(1)

        try:
            return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            bar.close()

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run_all(requests, progress))
        # Called from inside an event loop (e.g. a notebook): run ours in a helper thread.
        box: list[list[ChatResult]] = []
        thread = threading.Thread(target=lambda: box.append(asyncio.run(self._run_all(requests, progress))))
        thread.start()
        thread.join()
        return box[0]


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    try:
        message = json.loads(text)["error"]["message"]
        return str(message)[:300]
    except (ValueError, KeyError, TypeError):
        return (text.strip() or str(exc.reason))[:300]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def wait_for_server(base_url: str, timeout: float = 30.0) -> bool:
    """Poll `GET {base_url}/models` until it answers (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    return False
