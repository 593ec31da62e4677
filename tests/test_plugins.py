"""pgrpo.plugins: a broken plugin only warns, the others still load, once per process. (That the
installed toy plugin loads, and that the core never imports it: examples/toy/tests/test_plugin.py.)"""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from pgrpo import plugins


def test_a_broken_plugin_warns_and_the_others_still_load(monkeypatch):
    loaded = []

    class Good(EntryPoint):
        def load(self):
            loaded.append(self.name)

    entries = [EntryPoint("broken", "pgrpo.no_such_plugin_for_test", plugins.PLUGIN_GROUP),
               Good("good", "x", plugins.PLUGIN_GROUP)]
    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setattr(plugins, "entry_points", lambda group: entries if group == plugins.PLUGIN_GROUP else [])
    with pytest.warns(UserWarning, match="plugin 'broken'.*ModuleNotFoundError"):
        plugins.load_plugins()
    plugins.load_plugins()  # once per process
    assert loaded == ["good"]
