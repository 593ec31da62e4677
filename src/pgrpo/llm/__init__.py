"""Chat LLM backends behind one interface (pgrpo.llm.base): "hf", "openai" (any OpenAI-compatible
endpoint), "vllm"; `CachedBackend` (on-disk cache); `pgrpo serve`. `make_backend` imports the built-in
backend modules (each loads its model library only when built) and, for a name still unknown, the plugins.
"""

import inspect
from typing import Any

from pgrpo.llm.base import BACKENDS, BackendError, ChatBackend, ChatRequest, ChatResult
from pgrpo.llm.cache import CachedBackend, UsageReport
from pgrpo.plugins import load_plugins

__all__ = [
    "BACKENDS",
    "BackendError",
    "CachedBackend",
    "ChatBackend",
    "ChatRequest",
    "ChatResult",
    "UsageReport",
    "make_backend",
]


def import_backend_modules(name: str | None = None) -> None:
    """Register the built-in backends, and the plugins' when `name` is still unknown."""
    import pgrpo.llm.hf  # noqa: F401 - importing registers the backend
    import pgrpo.llm.openai_compat  # noqa: F401
    import pgrpo.llm.vllm_backend  # noqa: F401

    if name is None or name not in BACKENDS:
        load_plugins()


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
