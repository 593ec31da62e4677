"""The `ChatBackend` interface, the `BACKENDS` registry and `make_backend`.

Owns the contract every backend (openai, hf, toy, ...) implements: `generate(requests)`
returns one `ChatResult` per request in the same order; a failing item is a result with
`error`, never an exception that loses the batch. Backends register with
`@BACKENDS.register("name")`; modules listed in `BACKEND_MODULES` are imported on demand
by `make_backend`, so no heavy import happens until a backend is built. Plugins (the toy
world's "toy") register theirs when loaded (pgrpo.plugins).
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from pgrpo.errors import PgrpoError
from pgrpo.llm.types import ChatRequest, ChatResult
from pgrpo.plugins import load_plugins
from pgrpo.registry import Registry

# Importing these registers their backends. EXTRA_BACKEND_MODULES (heavy optional ones) are
# imported only when a name is not registered yet, so a problem there never blocks hf/openai.
BACKEND_MODULES: tuple[str, ...] = (
    "pgrpo.llm.hf",
    "pgrpo.llm.openai_compat",
)
EXTRA_BACKEND_MODULES: tuple[str, ...] = ("pgrpo.evaluation.vllm_backend",)


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


def import_backend_modules(name: str | None = None) -> None:
    """Import the built-in backends, and the extra ones and the plugins when `name` is still unknown."""
    for module in BACKEND_MODULES:
        importlib.import_module(module)
    if name is not None and name in BACKENDS:
        return
    failures = []
    for module in EXTRA_BACKEND_MODULES:
        # One broken optional module (e.g. vllm missing) must not hide the others' backends.
        try:
            importlib.import_module(module)
        except ImportError as exc:
            failures.append(f"{module}: {exc}")
    load_plugins()
    if name is not None and name not in BACKENDS and failures:
        raise BackendError(f"chat backend {name!r} not found; could not import " + "; ".join(failures))


def make_backend(name: str, model: str, **options: Any) -> ChatBackend:
    """Build backend `name` ("openai", "hf", ...) for `model` with backend-specific options."""
    import_backend_modules(name)
    try:
        factory = BACKENDS.get(name)
    except KeyError as exc:
        raise BackendError(str(exc.args[0])) from None
    try:
        inspect.signature(factory).bind(model, **options)
    except TypeError as exc:
        raise BackendError(f"backend {name!r}: bad option: {exc}") from None
    return factory(model, **options)
