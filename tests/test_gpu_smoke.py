"""scripts/gpu-smoke.sh on this CPU machine: the GPU-only stages say "no GPU: skipped", the
others (tiny models, recipe check, RM in-process and behind `pgrpo rm serve`, evaluate with
the hf backend, 2 GRPO steps) pass, and it exits 0. About a minute."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-smoke.sh"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, **(env or {})})


@pytest.mark.slow
def test_cpu_stages_pass_and_gpu_stages_say_no_gpu(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: run scripts/gpu-smoke.sh itself")
    proc = run("--out", str(tmp_path / "smoke"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line and not line.startswith(" ")}
    for name in ("tiny-models", "recipe-check", "rm-local", "rm-served", "evaluate-hf", "grpo-hf"):
        assert " pass (" in lines[name], lines.get(name)
    for name in ("grpo-vllm", "grpo-zero3", "evaluate-vllm", "rm-vllm", "rm-scoring-bench"):
        assert lines[name].endswith("no GPU: skipped"), lines[name]
    assert "6 passed, 0 failed" in proc.stdout
    assert (tmp_path / "smoke" / "grpo-hf" / "metrics.jsonl").exists()
    assert (tmp_path / "smoke" / "eval-hf" / "summary.json").exists()


def test_a_missing_package_skips_its_stage_and_unknown_args_fail(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"  # an importable-but-broken trl: the stages needing it skip
    (shadow / "trl").mkdir(parents=True)
    (shadow / "trl" / "__init__.py").write_text("raise ImportError('trl hidden by the test')\n")
    for name in ("transformers", "fastapi"):  # and everything else skips too: only the skip logic runs
        (shadow / name).mkdir()
        (shadow / name / "__init__.py").write_text("raise ImportError('hidden')\n")
    proc = run("--out", str(tmp_path / "smoke"), env={"PYTHONPATH": str(shadow)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped: trl not installed" in proc.stdout
    assert "skipped: transformers not installed" in proc.stdout
    assert run("--bogus").returncode == 2


def test_wheels_dir_installs_only_missing_wheels_into_a_throwaway_target(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    source = shutil.copytree(ROOT / "tests" / "fixtures" / "smoke_pkg", tmp_path / "smoke_pkg")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(source)], check=True, timeout=300)
    target = tmp_path / "site"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_smoke_helpers.py"), "wheels", str(wheels), str(target)],
                   check=True, timeout=300)
    assert (target / "pgrpo_smoke_pkg" / "__init__.py").exists()
