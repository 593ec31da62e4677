"""Programs see the libraries of the virtual environment pgrpo runs in (a venv's bin/python is a
symlink; the worker must be started through it, not its realpath, or the venv is ignored)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile

import pytest

from pgrpo.data.problem import Problem, StdioCase, TestKind, Tests
from pgrpo.sandbox import Job, Sandbox, SandboxConfig, Status
from pgrpo.sandbox.modes import bwrap_works, unshare_works

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("isolation", ["bwrap", "unshare"])
def test_programs_import_from_the_active_venv(isolation, monkeypatch):
    if not {"bwrap": bwrap_works, "unshare": unshare_works}[isolation]():
        pytest.skip(f"{isolation} does not work on this host")
    base = shutil.which("python3", path="/usr/bin") or sys.executable
    # Outside /tmp: each program gets a private /tmp (an environment there is not visible to it).
    root = tempfile.mkdtemp(prefix="pgrpo-venv-test-", dir="/var/tmp")
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", f"{root}/venv"], check=True, capture_output=True)
        site = subprocess.run([f"{root}/venv/bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              check=True, capture_output=True, text=True).stdout.strip()
        with open(f"{site}/pgrpo_venv_marker.py", "w") as f:
            f.write("VALUE = 42\n")
        monkeypatch.setattr(sys, "executable", f"{root}/venv/bin/python")
        monkeypatch.setattr(sys, "prefix", f"{root}/venv")
        monkeypatch.setattr(sys, "exec_prefix", f"{root}/venv")
        problem = Problem("venv/marker", "marker", Tests(TestKind.STDIO, stdio_cases=(StdioCase("", "42\n"),)))
        with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sb:
            result = sb.run([Job(problem, "import pgrpo_venv_marker\nprint(pgrpo_venv_marker.VALUE)")], progress=False)[0]
        assert result.status is Status.PASSED, result.detail
    finally:
        shutil.rmtree(root, ignore_errors=True)
