"""The chat LLM interface: `ChatRequest` (one prompt and its sampling parameters), `ChatResult` (its n
texts or an error), the `ChatBackend` contract (one result per request, same order; a failing item is a
result with `error`, never an exception that loses the batch), and the `BACKENDS` registry.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pgrpo.errors import PgrpoError
from pgrpo.registry import Registry


def _freeze_messages(messages: Any) -> tuple[dict[str, str], ...]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, (list, tuple)):
        raise ValueError(f"messages must be a list of {{'role','content'}} dicts, got {type(messages).__name__}")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"messages[{i}] must be a dict with 'role' and 'content', got {message!r}")
        out.append({"role": str(message["role"]), "content": str(message["content"])})
    return tuple(out)


@dataclass(frozen=True)
class ChatRequest:
    """One chat prompt. `temperature == 0` means greedy; `n` samples are returned per request."""

    messages: tuple[dict[str, str], ...] | list[Any]
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", _freeze_messages(self.messages))
        object.__setattr__(self, "stop", tuple(str(s) for s in self.stop))
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": [dict(m) for m in self.messages],
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "max_tokens": int(self.max_tokens),
            "n": int(self.n),
            "seed": self.seed,
            "stop": list(self.stop),
        }

    def cache_key(self, backend: str, model: str) -> str:
        """Stable hash of backend, model, messages and sampling parameters (hex sha256)."""
        payload = {"backend": backend, "model": model, **self.to_dict()}
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class ChatResult:
    """The outcome of one request: `texts` (len n) on success, or `error` (texts empty)."""

    texts: list[str] = field(default_factory=list)
    error: str | None = None
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        """The first text ('' on failure): convenient for n == 1."""
        return self.texts[0] if self.texts else ""


class BackendError(PgrpoError):
    """A backend could not be built (bad option, missing model, missing API key...)."""


class ChatBackend(ABC):
    """Generates chat completions. Subclasses set `name` and `model`."""

    name: str = "abstract"
    model: str = ""
    # How many requests CachedBackend hands over at a time (results are saved per chunk).
    chunk_size: int = 16

    @abstractmethod
    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        """One result per request, same order; failures are per-item `ChatResult(error=...)`."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources (threads, models). Safe to call twice."""

    def __enter__(self) -> ChatBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


BackendFactory = Callable[..., ChatBackend]
BACKENDS: Registry[BackendFactory] = Registry("chat backend")
