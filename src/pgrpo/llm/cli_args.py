"""The command-line options choosing a chat backend (`add_backend_arguments`, `backend_from_args`); a
`prefix` ("judge-") lets one command take two backends. Only stdlib at import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrpo.llm.cache import CachedBackend


def add_backend_arguments(parser: argparse.ArgumentParser, prefix: str = "", role: str = "generator",
                          default_backend: str = "openai") -> None:
    p = f"--{prefix}"
    group = parser.add_argument_group(f"{role} LLM")
    group.add_argument(f"{p}backend", default=default_backend,
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


def backend_options(args: argparse.Namespace, prefix: str = "") -> tuple[str, str | None, dict[str, Any]]:
    """(backend name, model, options): the command-line options the chosen backend accepts."""
    import inspect

    from pgrpo.llm import BACKENDS, BackendError, import_backend_modules

    attr = prefix.replace("-", "_")
    name = getattr(args, f"{attr}backend")
    import_backend_modules(name)
    try:
        factory = BACKENDS.get(name)
    except KeyError as exc:
        raise BackendError(f"--{prefix}backend: {exc.args[0]}") from None
    accepted = inspect.signature(factory).parameters
    options = {k: getattr(args, f"{attr}{k}") for k in _OPTION_NAMES if k in accepted}
    return name, getattr(args, f"{attr}model"), options


def backend_from_args(args: argparse.Namespace, cache_dir: str | Path | None, prefix: str = "") -> CachedBackend:
    """Build the chosen backend wrapped in CachedBackend(cache_dir)."""
    from pgrpo.llm import BackendError, make_backend
    from pgrpo.llm.cache import CachedBackend

    name, model, options = backend_options(args, prefix)
    if not model:
        raise BackendError(f"--{prefix}model is required")
    return CachedBackend(make_backend(name, model, **options), cache_dir)
