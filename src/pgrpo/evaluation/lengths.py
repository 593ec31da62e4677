"""Counting reasoning / answer length in tokens for the efficiency column.

Owns `TokenCounter` and `make_token_counter(model)`: the model's own tokenizer when it can be
loaded locally (a path, or a hub id already in the cache), otherwise whitespace-separated
words. `TokenCounter.name` says which, and the summary prints it, so numbers from
different counters are never compared by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TokenCounter:
    """`count(text) -> int`; `name` is "tokenizer:<model>" or "whitespace"."""

    name: str
    _count: Callable[[str], int]

    def count(self, text: str) -> int:
        return self._count(text) if text else 0


def whitespace_counter() -> TokenCounter:
    return TokenCounter("whitespace", lambda text: len(text.split()))


def _tokenizer_available(model: str) -> bool:
    """Cheap pre-check (no transformers import): a local dir, or a hub id already cached."""
    if Path(model).is_dir():
        return (Path(model) / "tokenizer_config.json").is_file() or (Path(model) / "tokenizer.json").is_file()
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "tokenizer_config.json"), str)
    except (ImportError, ValueError):  # ValueError: not a valid repo id (API model names)
        return False


def make_token_counter(model: str | None) -> TokenCounter:
    """The model's tokenizer if loadable without network, else whitespace words."""
    if not model or not _tokenizer_available(model):
        return whitespace_counter()
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    except (OSError, ValueError, ImportError, KeyError):
        return whitespace_counter()
    return TokenCounter(f"tokenizer:{model}",
                        lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]))
