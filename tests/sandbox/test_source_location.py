"""The sandbox works wherever pgrpo is checked out, including under /tmp (CI clones often are):
bubblewrap's private /tmp must not hide the source or the interpreter."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pgrpo

SCRIPT = """
import pgrpo, sys
from pgrpo.data.problem import Problem, Tests, CallCase
from pgrpo.sandbox import Sandbox, SandboxConfig, Job
assert pgrpo.__file__.startswith(sys.argv[1]), pgrpo.__file__
p = Problem(task_id="t", statement="", entry_point="f",
            tests=Tests(kind="call", call_cases=(CallCase((2,), 4), CallCase((3,), 6))))
with Sandbox(SandboxConfig(workers=1, isolation="auto")) as sb:
    good, bad = sb.run([Job(p, "def f(x):\\n    return 2 * x\\n"), Job(p, "def f(x):\\n    return x\\n")])
print(good.status.value, bad.status.value)
"""


def test_sandbox_runs_from_a_checkout_under_tmp(tmp_path):
    assert str(tmp_path).startswith("/tmp"), "pytest's tmp_path is expected under /tmp here"
    src = tmp_path / "checkout" / "src"
    shutil.copytree(Path(pgrpo.__file__).parent, src / "pgrpo", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(src)], capture_output=True, text=True,
                          timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["passed", "failed"], proc.stdout + proc.stderr[-2000:]
