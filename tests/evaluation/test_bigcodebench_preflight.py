"""`pgrpo evaluate` on a BigCodeBench set first checks that the sandbox's Python imports the
libraries the selected tasks use (pgrpo.evaluation.benchmarks): which libraries, the probe
through the real sandbox, and the refusal - before any generation - naming the missing
libraries and the install command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pgrpo.cli import main
from pgrpo.evaluation.benchmarks import (
    INSTALL_HINT,
    EvalTask,
    LibraryProbe,
    ensure_libraries,
    load_benchmark,
    missing_message,
    probe_libraries,
    required_libraries,
)
from pgrpo.llm.base import BACKENDS
from pgrpo.sandbox.settings import SandboxConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bigcodebench"
FULL, HARD = FIXTURES / "bigcodebench.jsonl", FIXTURES / "bigcodebench_hard.jsonl"
ABSENT = "pgrpo_issue26_no_such_module"


def _tasks(name: str, path: Path) -> list[EvalTask]:
    return load_benchmark(name, data={name: str(path)})


def test_required_libraries_are_the_tasks_third_party_imports_without_the_stdlib(tmp_path):
    assert required_libraries(_tasks("bigcodebench", FULL)) == ("matplotlib", "numpy", "pandas")
    assert required_libraries(_tasks("bigcodebench_hard", HARD)[2:]) == ()  # json/os, os/shutil/glob, time
    row = json.loads(FULL.read_text().splitlines()[3])  # libs ['json', 'os']
    row["test"] = row["test"].replace("import unittest", "import unittest\nfrom scipy import stats", 1)
    row["complete_prompt"] = "import sklearn.linear_model\n" + row["complete_prompt"]
    path = tmp_path / "bigcodebench.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert required_libraries(_tasks("bigcodebench", path)) == ("scipy", "sklearn")
    assert required_libraries(load_benchmark("humaneval", limit=3)) == ()  # not the unittest kind


def test_the_message_names_the_missing_libraries_where_and_the_install_command():
    python = "/usr/bin/python3.11"
    missing = [LibraryProbe("pandas", False, "ModuleNotFoundError: No module named 'pandas'", python),
               LibraryProbe("cv2", False, "ImportError: libGL.so.1: cannot open shared object file", python)]
    text = missing_message(missing, ["bigcodebench_hard"], SandboxConfig(workers=1))
    assert "missing libraries pandas, cv2" in text and f"this host's sandbox, {python}" in text
    assert INSTALL_HINT in text and "pip install -e '.[bigcodebench]'" in text
    assert "Import errors: cv2: ImportError: libGL.so.1" in text and "pandas: ModuleNotFound" not in text
    remote = missing_message(missing[:1], ["bigcodebench"], SandboxConfig(workers=1, url="http://127.0.0.1:9"))
    assert "sandbox service at http://127.0.0.1:9" in remote


@pytest.mark.sandbox
def test_the_probe_runs_in_the_sandbox_and_reports_what_it_cannot_import():
    present, absent = probe_libraries(["json", ABSENT], SandboxConfig(workers=1))
    assert present == LibraryProbe("json", True)
    assert not absent.ok and absent.error == f"ModuleNotFoundError: No module named {ABSENT!r}"
    assert absent.python  # the sandbox's Python says which it is


@pytest.mark.sandbox
def test_the_test_environment_has_the_fixture_libraries_in_the_sandbox():
    """The dev extra (what `make test` installs) carries what the fixtures' programs import,
    and the sandbox's Python sees it."""
    probes = ensure_libraries({"bigcodebench": _tasks("bigcodebench", FULL)}, SandboxConfig(workers=2))
    assert [(p.name, p.ok) for p in probes] == [("matplotlib", True), ("numpy", True), ("pandas", True)]


def _python_without_pandas() -> str | None:
    """An interpreter (>= 3.10) on this machine that cannot import pandas: the system one."""
    check = ("import importlib.util, sys; "
             "sys.exit(0 if sys.version_info >= (3, 10) and importlib.util.find_spec('pandas') is None else 1)")
    for candidate in ("/usr/bin/python3", shutil.which("python3"), "/usr/local/bin/python3"):
        if candidate and Path(candidate).exists() and subprocess.run(
                [candidate, "-I", "-c", check], capture_output=True, timeout=60).returncode == 0:
            return candidate
    return None


@pytest.mark.sandbox
def test_evaluate_bigcodebench_hard_without_pandas_stops_before_generating(tmp_path, monkeypatch, capsys):
    """The sandbox runs programs with this process's interpreter (sys.executable): pointed at one
    that has no pandas, the real probe - through the real sandbox - finds it missing, and
    `pgrpo evaluate` refuses before building or calling the generation backend."""
    python = _python_without_pandas()
    if python is None:
        pytest.skip("no Python >= 3.10 without pandas on this machine")
    calls: list[str] = []

    class Backend:
        name = model = "never-called"
        chunk_size = 8

        def __init__(self, model: str) -> None:
            calls.append(f"built {model}")

        def generate(self, requests, progress=False):
            calls.append("generate")
            raise AssertionError("generation must not start")

        def close(self) -> None:
            calls.append("close")

    monkeypatch.setitem(BACKENDS._items, "never-called", Backend)
    monkeypatch.setattr(sys, "executable", python)
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", "some/model", "--backend", "never-called", "--benchmarks", "bigcodebench_hard",
            "--data", f"bigcodebench_hard={HARD}", "--out", str(out), "--workers", "2", "--no-progress"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "missing libraries" in error and "pandas" in error
    assert "pip install 'pgrpo[bigcodebench]'" in error and "pip install -e '.[bigcodebench]'" in error
    assert calls == []  # the backend was never built, let alone asked to generate
    assert not (out / "samples.jsonl").exists() and not (out / "results.jsonl").exists()
