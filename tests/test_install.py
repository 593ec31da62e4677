"""The install step picks the right interpreter (scripts/pick-python.sh, used by the Makefile
and scripts/install.sh): an active venv / conda env is used, never replaced; an externally
managed interpreter (PEP 668) gets the project venv .venv; otherwise the interpreter asked for.
And when venv support is missing and apt may not be used, install.sh says what to run.

The real thing (`make test PYTHON=/usr/bin/python3` in a fresh clone on Debian 12) is too slow
for the suite; it is in the report of issue 15.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = "/usr/bin/python3"


def marked(python: str) -> bool:
    code = "import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() == "True"


needs_marked_system = pytest.mark.skipif(not (os.path.exists(SYSTEM) and marked(SYSTEM)),
                                         reason="no externally managed /usr/bin/python3 here")


def pick(python: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("CONDA_PREFIX", "PGRPO_VENV")}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "pick-python.sh"), python], capture_output=True,
                         text=True, check=True, env={**full, **env})
    return out.stdout.strip()


def make_n(*args: str, env: dict[str, str] | None = None) -> str:
    # not the variables of a `make test` this suite may run under (MAKEFLAGS carries its PYTHON=,
    # and make exports a command-line PYTHON= into the environment of its recipes too)
    full = {k: v for k, v in (env or os.environ).items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHON")}
    out = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "test", *args], capture_output=True, text=True,
                         env=full, check=True)
    return out.stdout


def test_an_interpreter_that_allows_installs_is_used_as_it_is() -> None:
    if marked(sys.executable) and sys.prefix == sys.base_prefix:
        pytest.skip("this interpreter is externally managed")
    assert pick(sys.executable) == sys.executable


@needs_marked_system
def test_an_externally_managed_interpreter_gets_the_project_venv() -> None:
    assert pick(SYSTEM) == str(ROOT / ".venv" / "bin" / "python")
    assert pick(SYSTEM, PGRPO_VENV="/somewhere/env") == "/somewhere/env/bin/python"
    assert f"{ROOT}/.venv/bin/python -m pytest -q" in make_n(f"PYTHON={SYSTEM}")


@needs_marked_system
def test_an_active_venv_is_used_not_replaced(tmp_path: Path) -> None:
    venv = tmp_path / "active"
    subprocess.run([SYSTEM, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    assert pick(python) == python  # its base is externally managed, the venv is not
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "PATH": f"{venv}/bin:{os.environ['PATH']}"}
    plan = make_n(env=env)
    assert "python3 -m pytest -q" in plan and ".venv" not in plan  # python3 on PATH is the active venv's


def test_the_active_conda_env_is_used(tmp_path: Path) -> None:
    # pick-python treats the interpreter whose sys.prefix is CONDA_PREFIX as the user's env
    assert pick(sys.executable, CONDA_PREFIX=sys.prefix) == sys.executable


@needs_marked_system
def test_missing_venv_support_without_apt_says_what_to_run(tmp_path: Path) -> None:
    fake = tmp_path / "python3"  # Debian's python3 without python3.X-venv: no ensurepip
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do case "$a" in *ensurepip*) exit 1;; esac; done\nexec {SYSTEM} "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "PGRPO_APT": "0", "PGRPO_VENV": str(tmp_path / "venv"),
           "PATH": f"{Path(sysconfig.get_path('scripts'))}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh")], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "externally managed (PEP 668)" in proc.stdout
    version = subprocess.run([SYSTEM, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
                             capture_output=True, text=True).stdout.strip()
    assert f"run: sudo apt-get install python{version}-venv" in proc.stderr
    assert not (tmp_path / "venv").exists()
