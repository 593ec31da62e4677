"""The install step picks the right interpreter (scripts/pick-python.sh, used by the Makefile
and scripts/install.sh): an active venv / conda env is used, never replaced; an externally
managed interpreter (PEP 668) gets the project venv .venv; otherwise the interpreter asked for.
And when venv support is missing and apt may not be used, install.sh says what to run. Each
active venv gets its own install stamp, and .ci/run runs `make test` in a fresh venv of the
system Python, outside /tmp (sandboxed programs get a private /tmp).

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


def _plan_install(venv: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHON")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv}/bin:{os.environ['PATH']}")
    return subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "install"], capture_output=True, text=True,
                          env=env, check=True).stdout


def test_each_active_venv_gets_its_own_install_stamp(tmp_path: Path) -> None:
    """`python3` names another interpreter in each active venv: make installs into each one."""
    plans = []
    for name in ("one", "two"):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / name)], check=True)
        plans.append(_plan_install(tmp_path / name))
    stamps = [next(w for w in plan.split() if w.startswith(".make/installed-")) for plan in plans]
    assert all("scripts/install.sh" in plan for plan in plans) and stamps[0] != stamps[1]


@pytest.mark.skipif(subprocess.run([SYSTEM, "-c", "import ensurepip, venv"], capture_output=True).returncode != 0
                    if os.path.exists(SYSTEM) else True, reason="no /usr/bin/python3 with venv support here")
def test_ci_runs_make_test_in_a_fresh_venv_of_the_system_python_outside_tmp(tmp_path: Path) -> None:
    """.ci/run, with `make` replaced by a stub that reports which python3 `make test` would get."""
    stub = tmp_path / "bin"
    stub.mkdir()
    report = tmp_path / "make.txt"
    (stub / "make").write_text(f'#!/bin/sh\necho "$@" > {report}\n'
                               f'python3 -c "import sys; print(sys.prefix, sys.base_prefix)" >> {report}\n')
    (stub / "make").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHON", "MAKEFLAGS")}
    env["PATH"] = f"{stub}:{env['PATH']}"
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "run")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    target, prefixes = report.read_text().splitlines()
    prefix, base = prefixes.split()
    assert target == "test" and prefix.startswith("/var/tmp/pgrpo-ci.")
    assert base == os.path.realpath(subprocess.run([SYSTEM, "-c", "import sys; print(sys.base_prefix)"],
                                                   capture_output=True, text=True).stdout.strip())
    assert not Path(prefix).exists()  # removed after the run
