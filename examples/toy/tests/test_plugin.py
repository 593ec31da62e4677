"""The toy world plugs into pgrpo through the `pgrpo.plugins` entry point group only: the core never
imports pgrpo_toy; the CLI loads it at start-up, and the user-facing factories (`get_style`,
`judge_factory`, `make_backend`) load it when asked for a name no built-in holds."""

from __future__ import annotations

import subprocess
import sys

CORE = ("pgrpo.train", "pgrpo.evaluation", "pgrpo.rm", "pgrpo.cli", "pgrpo.bench", "pgrpo.llm", "pgrpo.data")


def _fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_core_imports_nothing_from_the_toy_world():
    code = (f"import sys, importlib; [importlib.import_module(m) for m in {CORE!r}]; "
            "print(sorted(m for m in sys.modules if m.startswith('pgrpo_toy')))")
    assert _fresh(code) == "[]"


def test_the_user_facing_factories_load_the_toy_plugin():
    code = ("from pgrpo.data import build_messages; from pgrpo.bench.judge import judge_factory; "
            "from pgrpo.llm import make_backend; from pgrpo.data.prompts import get_style; "
            "print(get_style('toy').name, judge_factory('toy-oracle').name, make_backend('toy', 'toy').name)")
    assert _fresh(code) == "toy toy-oracle toy"


def test_a_registry_lookup_alone_loads_no_plugin():
    code = ("import sys; from pgrpo.data.prompts import PROMPT_STYLES\n"
            "try:\n    PROMPT_STYLES.get('toy')\nexcept KeyError as exc:\n    print('unknown', 'pgrpo_toy' in sys.modules)")
    assert _fresh(code) == "unknown False"


def test_the_cli_lists_the_plugin_commands():
    code = "from pgrpo.cli import build_parser; from pgrpo.commands import COMMANDS; build_parser(); print('demo' in COMMANDS)"
    assert _fresh(code) == "True"
