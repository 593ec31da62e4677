"""pgrpo.plugins: the core never imports the toy world; it plugs in through the `pgrpo.plugins`
entry point group, at CLI start-up or when a registry misses a name; a broken plugin only warns."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from pgrpo import plugins

CORE = ("pgrpo.train", "pgrpo.evaluation", "pgrpo.rm", "pgrpo.cli", "pgrpo.bench", "pgrpo.llm", "pgrpo.data")


def _fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_core_imports_nothing_from_the_toy_world():
    code = (f"import sys, importlib; [importlib.import_module(m) for m in {CORE!r}]; "
            "print(sorted(m for m in sys.modules if m.startswith('pgrpo.toy')))")
    assert _fresh(code) == "[]"


def test_a_registry_miss_loads_the_toy_plugin():
    code = ("from pgrpo.data.prompts import get_style; from pgrpo.bench.judge import judge_factory; "
            "from pgrpo.llm.make import make_backend; "
            "print(get_style('toy').name, judge_factory('toy-oracle').name, make_backend('toy', 'toy').name)")
    assert _fresh(code) == "toy toy-oracle toy"


def test_the_cli_lists_the_plugin_commands():
    code = "from pgrpo.cli import build_parser; from pgrpo.commands import COMMANDS; build_parser(); print('demo' in COMMANDS)"
    assert _fresh(code) == "True"


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
