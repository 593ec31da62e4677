"""pgrpo_toy is built only on pgrpo's public API: every `pgrpo` import in its modules names a
package's `__all__` entry (`from pgrpo.<package> import <name>`) or a top-level module
(`from pgrpo.errors import PgrpoError`), never a submodule of a package. Parsed with `ast`, so
lazy (function-level) imports count too."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pgrpo_toy

TOY_DIR = Path(pgrpo_toy.__file__).parent


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def import_violations(source: str, filename: str) -> list[str]:
    """'file:line: why' for each import in `source` that reaches past pgrpo's public API."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules, names = [alias.name for alias in node.names], []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules, names = [node.module], [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] != "pgrpo":
                continue
            where = f"{filename}:{node.lineno}"
            if len(parts) > 2:
                found.append((node.lineno, f"{where}: imports {module}, a submodule of a pgrpo package"))
            elif len(parts) == 1:
                found += [(node.lineno, f"{where}: from pgrpo import {n}: import names from its package instead")
                          for n in names]
            elif _is_package(module):
                exported = set(getattr(importlib.import_module(module), "__all__", ()))
                found += [(node.lineno, f"{where}: {module}.{n} is not in {module}.__all__")
                          for n in names if n not in exported]
    return [text for _, text in sorted(found)]


def test_the_toy_imports_only_pgrpos_public_api():
    found = [v for path in sorted(TOY_DIR.rglob("*.py"))
             for v in import_violations(path.read_text(encoding="utf-8"), str(path))]
    assert not found, "\n".join(found)


def test_the_check_names_each_kind_of_violation():
    source = ("from pgrpo.rm.scoring import RMItem\n"
              "def f():\n    from pgrpo.llm import NotExported\n"
              "import pgrpo.verify\nimport pgrpo.verify.code\n"
              "from pgrpo import llm\n"
              "from pgrpo.errors import PgrpoError\nfrom pgrpo.llm import ChatRequest\n")
    assert import_violations(source, "m.py") == [
        "m.py:1: imports pgrpo.rm.scoring, a submodule of a pgrpo package",
        "m.py:3: pgrpo.llm.NotExported is not in pgrpo.llm.__all__",
        "m.py:5: imports pgrpo.verify.code, a submodule of a pgrpo package",
        "m.py:6: from pgrpo import llm: import names from its package instead",
    ]
