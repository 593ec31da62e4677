"""Where a name points: the one "local path or hub id?" rule, and recipe-relative paths.

Owns `is_local_path` (every stage that accepts "a local path or a hub id" asks it) and
`resolve_recipe_path` (a relative local path written in a recipe file is read relative to the
recipe's own directory, so a recipe works from any working directory; paths given on the
command line stay relative to the working directory).
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
    """True for a local path, False for a hub id ("org/name", or a bare "name").

    Local: an existing path, or `looks_local` (so a typo in a file name fails as "file not
    found", not as a hub lookup).
    """
    return Path(source).expanduser().exists() or looks_local(source)


def resolve_recipe_path(value: str, recipe_dir: Path, *, always_local: bool = False) -> str:
    """`value` as written in a recipe in `recipe_dir`: "~" is expanded; a relative local path
    (`looks_local`, or one that exists next to the recipe) is joined to the recipe's directory;
    absolute paths and hub ids are returned unchanged. With `always_local` (an output
    directory) every relative value is a path."""
    if not value:
        return value
    value = os.path.expanduser(value)
    if os.path.isabs(value):
        return value
    if always_local or looks_local(value) or (recipe_dir / value).exists():
        return os.path.normpath(recipe_dir / value)
    return value
