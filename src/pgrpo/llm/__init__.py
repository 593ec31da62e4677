"""Chat LLM backends behind one interface (pgrpo.llm.base): "hf", "openai" (any OpenAI-compatible
endpoint), "vllm"; `CachedBackend` (on-disk cache); `pgrpo serve`. `make_backend` imports the built-in
backend modules (each loads its model library only when built) and, for a name still unknown, the plugins.
`add_backend_arguments` / `backend_from_args`: the command-line options choosing a backend (a `prefix`,
"judge-", lets one command take two). Importing this package loads no model library.
"""

import argparse
import inspect
from pathlib import Path
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


def add_backend_arguments(parser: argparse.ArgumentParser, prefix: str = "", role: str = "generator") -> None:
    p = f"--{prefix}"
    group = parser.add_argument_group(f"{role} LLM")
    group.add_argument(f"{p}backend", default="openai",
                       help=f"{role} backend: openai (any OpenAI-compatible server) or hf (local model)")
    group.add_argument(f"{p}model", required=not prefix, default=None,
                       help=f"{role} model name (openai) or local path (hf)")
    group.add_argument(f"{p}base-url", default="http://127.0.0.1:8000/v1",
                       help="openai: endpoint base URL (default: a local `pgrpo serve`)")
    group.add_argument(f"{p}api-key-env", default="OPENAI_API_KEY", help="openai: env var holding the key")
    group.add_argument(f"{p}concurrency", type=int, default=8, help="openai: parallel requests")
    group.add_argument(f"{p}timeout", type=float, default=120.0, help="openai: seconds per request")
    group.add_argument(f"{p}max-retries", type=int, default=5, help="openai: retries per request")
    group.add_argument(f"{p}device", default=None, help="hf: cpu / cuda")
    group.add_argument(f"{p}max-batch-size", type=int, default=8, help="hf: sequences per forward pass")


_OPTION_NAMES = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries", "device", "max_batch_size")


def backend_from_args(args: argparse.Namespace, cache_dir: str | Path | None, prefix: str = "") -> CachedBackend:
    """The chosen backend, given the command-line options it accepts, wrapped in CachedBackend(cache_dir)."""
    attr = prefix.replace("-", "_")
    name, model = getattr(args, f"{attr}backend"), getattr(args, f"{attr}model")
    import_backend_modules(name)
    try:
        factory = BACKENDS.get(name)
    except KeyError as exc:
        raise BackendError(f"--{prefix}backend: {exc.args[0]}") from None
    if not model:
        raise BackendError(f"--{prefix}model is required")
    accepted = inspect.signature(factory).parameters
    options = {k: getattr(args, f"{attr}{k}") for k in _OPTION_NAMES if k in accepted}
    return CachedBackend(make_backend(name, model, **options), cache_dir)
