"""Plugin loading: the one place pgrpo reaches code it does not import by name.

A plugin is a module named in the `pgrpo.plugins` entry-point group (pyproject.toml); importing
it registers what it adds (subcommands, chat backends, judges, prompt styles, ...) in the
core registries. The core never imports a plugin: `load_plugins` runs once, at CLI start-up or
when a user-facing factory is asked for a name no built-in holds (`make_backend`, `get_style`,
`judge_factory`).
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

PLUGIN_GROUP = "pgrpo.plugins"
_loaded = False


def load_plugins() -> None:
    """Import every installed plugin once. A plugin that fails to import is skipped with a
    warning, so one broken plugin neither stops pgrpo nor hides the others."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # set first: a plugin's own registry lookups must not re-enter
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported, not fatal
            warnings.warn(f"pgrpo plugin {entry.name!r} ({entry.value}) failed to load: "
                          f"{type(exc).__name__}: {exc}", stacklevel=2)
