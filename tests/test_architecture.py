"""The import-linter contracts in pyproject.toml cover every package under src/pgrpo without a hand-kept list.

Each test copies src/pgrpo and the repository's pyproject.toml (the contracts, unedited) to a temporary
directory, optionally adds a new top-level package `pgrpo.newpkg`, and runs import-linter's Python API
(`lint_imports`) on the copy in a child process whose PYTHONPATH puts the copy first. The unmodified copy
keeps every contract; a new package that no contract names breaks the layers contract (exhaustive over
the `pgrpo` container), and one that imports the forbidden plugin breaks the core-without-plugins contract,
both naming `pgrpo.newpkg`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LINT = (
    "import sys\n"
    "from importlinter.cli import lint_imports\n"
    "sys.exit(lint_imports('pyproject.toml', limit_to_contracts=tuple(sys.argv[1:]), no_cache=True, no_logo=True))\n"
)


@dataclass(frozen=True)
class Lint:
    """One import-linter run on the copy: kept or broken, and what it printed."""

    kept: bool
    output: str


def contract(contract_id: str) -> dict[str, object]:
    """The contract `contract_id` as pyproject.toml declares it."""
    contracts: list[dict[str, object]] = read_configuration(str(PYPROJECT))["contracts_options"]
    found = [c for c in contracts if c["id"] == contract_id]
    assert found, f"pyproject.toml has no import-linter contract {contract_id!r}"
    return found[0]


def copy_tree(tmp_path: Path) -> Path:
    """src/pgrpo and pyproject.toml copied under tmp_path; returns the copy's package directory."""
    shutil.copytree(ROOT / "src" / "pgrpo", tmp_path / "src" / "pgrpo",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    return tmp_path / "src" / "pgrpo"


def lint(tmp_path: Path, *contract_ids: str) -> Lint:
    """Run import-linter's Python API on the copy under tmp_path (only `contract_ids` when given)."""
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "COLUMNS": "300", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-c", LINT, *contract_ids], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    return Lint(kept=done.returncode == 0, output=done.stdout + done.stderr)


def add_package(package_dir: Path, source: str) -> None:
    """A new top-level package pgrpo.newpkg whose __init__ holds `source`."""
    (package_dir / "newpkg").mkdir()
    (package_dir / "newpkg" / "__init__.py").write_text(f'"""A package no contract names."""\n\n{source}\n')


def test_the_unmodified_copy_keeps_every_contract(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    result = lint(tmp_path)
    assert result.kept, result.output
    assert "0 broken" in result.output, result.output


def test_a_new_unlayered_package_breaks_the_layers_contract(tmp_path: Path) -> None:
    layers = contract("data-path-layers")
    assert str(layers.get("exhaustive")).lower() == "true" and layers.get("containers") == ["pgrpo"]
    add_package(copy_tree(tmp_path), "from pgrpo import errors  # noqa: F401")
    result = lint(tmp_path, "data-path-layers")
    assert not result.kept, result.output
    assert "pgrpo.newpkg" in result.output, result.output


def test_a_new_package_importing_the_plugin_breaks_the_forbidden_contract(tmp_path: Path) -> None:
    forbidden = contract("core-without-plugins")
    assert forbidden["source_modules"] in (["pgrpo"], ["pgrpo.*"]), "the source is the whole package, not a list"
    plugin = str(forbidden["forbidden_modules"][0])  # type: ignore[index]
    package_dir = copy_tree(tmp_path)
    assert lint(tmp_path, "core-without-plugins").kept
    add_package(package_dir, f"import {plugin}  # noqa: F401")
    result = lint(tmp_path, "core-without-plugins")
    assert not result.kept, result.output
    assert "pgrpo.newpkg" in result.output and plugin in result.output, result.output


def test_a_cycle_inside_a_new_package_breaks_the_cycle_contract(tmp_path: Path) -> None:
    package_dir = copy_tree(tmp_path)
    add_package(package_dir, "")
    (package_dir / "newpkg" / "one.py").write_text('"""One."""\n\nfrom pgrpo.newpkg import two  # noqa: F401\n')
    (package_dir / "newpkg" / "two.py").write_text('"""Two."""\n\nfrom pgrpo.newpkg import one  # noqa: F401\n')
    result = lint(tmp_path, "no-cycles")
    assert not result.kept, result.output
    assert "pgrpo.newpkg" in result.output, result.output


def test_the_dev_extra_pins_an_import_linter_that_has_every_contract_used() -> None:
    """acyclic_siblings (the no-cycles contract) arrived in import-linter 2.6: the pin must refuse older
    versions, and the installed one (what `make lint` runs) must satisfy it."""
    import re
    from importlib.metadata import version

    from packaging.requirements import Requirement

    found = re.findall(r'"(import-linter[^"]*)"', PYPROJECT.read_text())
    assert len(found) == 1, found
    spec = Requirement(found[0]).specifier
    assert "2.5" not in spec and "2.6" in spec, spec
    assert version("import-linter") in spec, (version("import-linter"), spec)
