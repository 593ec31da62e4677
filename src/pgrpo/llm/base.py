"""The `ChatBackend` contract (one `ChatResult` per request, same order; a failing item is a result with
`error`, never an exception that loses the batch) and the `BACKENDS` registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from pgrpo.errors import PgrpoError
from pgrpo.llm.types import ChatRequest, ChatResult
from pgrpo.registry import Registry


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
