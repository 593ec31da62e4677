"""The `openai` backend: any OpenAI-compatible endpoint through the official client (one per backend,
a thread pool of `concurrency`). The client retries 429 / 5xx / timeouts / connection errors; this module
retries malformed or empty bodies (the client takes those as successes) and turns each failure into a
per-item error naming the URL. The API key comes from env `api_key_env`, optional for local servers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from pgrpo.llm.base import BACKENDS, BackendError, ChatBackend, ChatRequest, ChatResult

# Sent when no key is set: the client insists on one, local servers ignore it.
NO_KEY = "no-key"


def result_from_completion(completion: ChatCompletion, n: int) -> ChatResult:
    """The n texts of a parsed completion; ValueError when it is malformed or empty."""
    if not isinstance(completion, ChatCompletion):
        raise ValueError(f"malformed response: not a chat completion: {str(completion)[:200]!r}")
    if not completion.choices:
        raise ValueError("empty response: no choices")
    texts = []
    for choice in sorted(completion.choices, key=lambda c: c.index or 0):
        content = choice.message.content if choice.message is not None else None
        if not isinstance(content, str):
            raise ValueError("malformed response: a choice has no message content")
        texts.append(content)
    if len(texts) < n:
        raise ValueError(f"response has {len(texts)} choices, expected n={n}")
    usage = completion.usage
    return ChatResult(texts[:n], None, False, usage.prompt_tokens if usage else 0,
                      usage.completion_tokens if usage else 0)


def describe_error(exc: openai.APIError, timeout: float) -> str:
    """A short reason for a failed call (status and server message, timeout, connection)."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {exc.status_code}: {str(message or exc.response.text or exc.message)[:300]}"
    if isinstance(exc, openai.APITimeoutError):
        return f"timeout after {timeout:g}s"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error: {exc.__cause__ or exc.message}"
    return f"{type(exc).__name__}: {exc.message}"


@BACKENDS.register("openai")
class OpenAIBackend(ChatBackend):
    """Calls `{base_url}/chat/completions` for `model`."""

    name = "openai"

    def __init__(self, model: str, *, base_url: str = "https://api.openai.com/v1",
                 api_key_env: str = "OPENAI_API_KEY", require_key: bool = False, concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 5, send_seed: bool = True) -> None:
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise BackendError("openai backend: need concurrency >= 1, max_retries >= 0, timeout > 0")
        api_key = os.environ.get(api_key_env, "")
        if require_key and not api_key:
            raise BackendError(f"openai backend for {base_url}: environment variable {api_key_env} is not set")
        self.model = str(model)
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.concurrency = int(concurrency)
        self.chunk_size = max(4 * self.concurrency, 16)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.send_seed = send_seed
        self.client = openai.OpenAI(api_key=api_key or NO_KEY, base_url=self.base_url, timeout=self.timeout,
                                    max_retries=self.max_retries)

    def payload(self, req: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in req.messages],
                                "temperature": req.temperature, "top_p": req.top_p,
                                "max_tokens": req.max_tokens, "n": req.n}
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None and self.send_seed:
            body["seed"] = req.seed
        return body

    def _complete(self, req: ChatRequest) -> ChatResult:
        """One request with all its retries (in a worker thread); an unexpected bug is a per-item error."""
        tries, error = 0, ""
        while tries <= self.max_retries:
            try:
                completion = self.client.chat.completions.create(**self.payload(req))
                return result_from_completion(completion, req.n)
            except openai.APIError as exc:  # the client has already retried what is worth retrying
                try:  # the client stamps each retry with its count
                    tries += int(exc.request.headers.get("x-stainless-retry-count", "0")) + 1
                except (AttributeError, RuntimeError, ValueError):
                    tries += 1
                error = describe_error(exc, self.timeout)
                break
            except ValueError as exc:  # malformed JSON or empty choices: the client took it as success
                tries, error = tries + 1, f"bad response: {exc}"
            except Exception as exc:  # noqa: BLE001 - an unexpected bug stays a per-item error
                return ChatResult([], f"openai: POST {self.url}: {type(exc).__name__}: {exc}")
            if tries <= self.max_retries:
                time.sleep(min(8.0, 0.5 * 2 ** (tries - 1)))
        return ChatResult([], f"openai: POST {self.url} failed after {tries} attempt{'s' * (tries > 1)}: {error}")

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        from tqdm.auto import tqdm

        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            results = pool.map(self._complete, requests)
            return list(tqdm(results, total=len(requests), desc=f"openai:{self.model}", unit="req",
                             disable=not progress))

    def close(self) -> None:
        self.client.close()
