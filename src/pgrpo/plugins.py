"""`load_plugins`: the one place pgrpo reaches code it does not import by name (the `pgrpo.plugins`
entry points, which register into the core registries); run at CLI start-up or by `Registry.lookup`
for a name no built-in holds.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

PLUGIN_GROUP = "pgrpo.plugins"
_loaded = False


def load_plugins() -> None:
    """Import every installed plugin once; one that fails is skipped with a warning."""
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
