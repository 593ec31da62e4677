"""`is_local_path`, the one "local path or hub id?" rule, and `resolve_recipe_path` (a relative path in a
recipe is read relative to the recipe's directory; on the command line, to the working directory).
"""

from __future__ import annotations

import os
from pathlib import Path

LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet", ".pq", ".gz", ".csv", ".yaml", ".yml")


def looks_local(source: str) -> bool:
    """The textual half of `is_local_path`: "/x", "./x", "../x", "~/x", more than one "/", or a
    data/config file suffix (model ids with dots such as "Qwen/Qwen2.5-7B" are not suffixes)."""
    return source.startswith(("/", "~", "./", "../")) or source.count("/") > 1 or source.lower().endswith(LOCAL_SUFFIXES)


def is_local_path(source: str) -> bool:
    """An existing path or `looks_local` (a typo'd file name fails as "not found", not as a hub lookup)."""
    return Path(source).expanduser().exists() or looks_local(source)


def resolve_recipe_path(value: str, recipe_dir: Path, *, always_local: bool = False) -> str:
    """`value` written in a recipe in `recipe_dir`: "~" expanded, a relative local path (or, `always_local`,
    any relative value) joined to `recipe_dir`; absolute paths and hub ids unchanged."""
    if not value:
        return value
    value = os.path.expanduser(value)
    if os.path.isabs(value):
        return value
    if always_local or looks_local(value) or (recipe_dir / value).exists():
        return os.path.normpath(recipe_dir / value)
    return value
