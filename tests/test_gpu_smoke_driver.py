"""scripts/gpu-smoke.sh cannot pass falsely, and its multi-GPU stage's CPU-checkable parts.

- a fake `nvidia-smi` listing GPUs, on a machine where torch sees none (the real CPU torch, or
  a fake CUDA 13 / CUDA 12 torch): the script exits 1 within seconds, before building any
  model, naming the driver version and the driver torch's CUDA build needs;
- scripts/gpu_driver_check.py's table and verdicts (no nvidia-smi, a failing one, no devices);
- the multi-GPU stage: skipped below two GPUs (a fake torch with 0, 1, 2 GPUs and every heavy
  package hidden, so only the skip logic runs), its `pgrpo train` overrides pass `--check`, its
  ZeRO-3 accelerate config, and the resume verdict it ends with.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu-smoke.sh"
HIDDEN = ("transformers", "trl", "fastapi", "uvicorn", "httpx", "vllm", "deepspeed")
FAKE_TORCH = '''import os, warnings
__version__ = os.environ["FAKE_TORCH_VERSION"]
class version:
    cuda = os.environ.get("FAKE_TORCH_CUDA") or None
class cuda:
    @staticmethod
    def is_available():
        gpus = int(os.environ["FAKE_TORCH_GPUS"])
        if not gpus:
            warnings.warn("CUDA initialization: The NVIDIA driver on your system is too old")
        return gpus > 0
    @staticmethod
    def device_count():
        return int(os.environ["FAKE_TORCH_GPUS"])
    @staticmethod
    def get_device_name(index=0):
        return "Fake GPU"
'''


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


driver = load("gpu_driver_check")
helpers = load("gpu_smoke_helpers")


def fake_smi(bin_dir: Path, output: str, code: int = 0) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {code}\n")
    exe.chmod(0o755)
    return bin_dir


def shadow(tmp_path: Path, torch_gpus: int | None = None) -> str:
    """A PYTHONPATH dir hiding the heavy packages (importing them fails), and torch too when
    `torch_gpus` is given (a fake torch seeing that many GPUs)."""
    root = tmp_path / "shadow"
    for name in HIDDEN:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "__init__.py").write_text(f"raise ImportError('{name} hidden by the test')\n")
    if torch_gpus is not None:
        (root / "torch").mkdir(exist_ok=True)
        (root / "torch" / "__init__.py").write_text(FAKE_TORCH)
    return str(root)


def run(tmp_path: Path, *args: str, path_dir: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    if path_dir is not None:
        base["PATH"] = f"{path_dir}:{base['PATH']}"
    return subprocess.run(["bash", str(SCRIPT), "--out", str(tmp_path / "smoke"), *args], capture_output=True,
                          text=True, timeout=300, env={**base, "PYTHON": sys.executable, **env})


A100_535 = "NVIDIA A100-SXM4-80GB, 535.104.05\nNVIDIA A100-SXM4-80GB, 535.104.05"


def test_gpus_torch_cannot_use_fail_before_any_model_is_built(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU here: the fake nvidia-smi would be right")
    start = time.monotonic()
    proc = run(tmp_path, path_dir=fake_smi(tmp_path / "bin", A100_535))
    took = time.monotonic() - start
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nvidia-smi lists 2 GPU(s) (NVIDIA A100-SXM4-80GB) with driver 535.104.05" in proc.stderr
    if torch.version.cuda is None:  # this machine's CPU build: the GPU stack's floor is named
        assert "CPU-only build" in proc.stderr and "needs driver >= 580, so upgrade driver 535.104.05" in proc.stderr
    assert not (tmp_path / "smoke" / "models").exists() and "tiny-models" not in proc.stdout
    assert took < 60, f"the driver check took {took:.0f}s"


@pytest.mark.parametrize("cuda, smi, visible, expected", [
    ("13.0", A100_535, None, "torch 2.13.0+cu130 is built for CUDA 13.0, which needs driver >= 580: torch cannot "
                             "use them. Upgrade the NVIDIA driver to >= 580"),
    ("12.8", "NVIDIA H100 80GB HBM3, 525.60.12", None, "needs driver >= 525.60.13: torch cannot use them"),
    ("12.8", "NVIDIA H100 80GB HBM3, 550.54.15", "", "which needs driver >= 525.60.13 (met), yet torch sees no GPU: "
                                                     "check CUDA_VISIBLE_DEVICES=''"),
])
def test_a_cuda_torch_that_sees_no_gpu_names_driver_and_floor(tmp_path, cuda, smi, visible, expected) -> None:
    env = {"PYTHONPATH": shadow(tmp_path, torch_gpus=0), "FAKE_TORCH_GPUS": "0", "FAKE_TORCH_CUDA": cuda,
           "FAKE_TORCH_VERSION": f"2.13.0+cu{cuda.replace('.', '')}"}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    proc = run(tmp_path, path_dir=fake_smi(tmp_path / "bin", smi), **env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"with driver {smi.rsplit(', ', 1)[1]}" in proc.stderr and expected in proc.stderr, proc.stderr
    assert "torch says: CUDA initialization: The NVIDIA driver on your system is too old" in proc.stderr
    assert not (tmp_path / "smoke" / "models").exists()


def test_driver_floors_follow_nvidias_table() -> None:
    assert driver.required_driver("13.0") == driver.required_driver("13.2") == "580"
    assert driver.required_driver("12.1") == "525.60.13" and driver.required_driver("11.8") == "450.80.02"
    assert driver.required_driver("10.2") is None
    assert driver.version_key("535.104.05") < driver.version_key("580") <= driver.version_key("580.65.06")
    assert driver.version_key("525.60.12") < driver.version_key("525.60.13") < driver.version_key("525.105.17")
    torch13 = driver.TorchView("2.13.0+cu130", "13.0", 0)
    for version, ok in (("575.57.08", False), ("580.65.06", True), ("590.44.01", True)):
        verdict = driver.problem(driver.Smi(("GPU",), version), torch13)
        assert ("Upgrade the NVIDIA driver" in str(verdict)) != ok, (version, verdict)
    assert driver.problem(driver.Smi(("GPU",), "535.104.05"), driver.TorchView("2.13.0", "13.0", 1)) is None
    assert driver.problem(driver.Smi((), None), torch13) is None  # nothing listed: the CPU stages run


def test_the_floor_readme_states_is_the_gpu_stacks(tmp_path: Path) -> None:
    floor = driver.CUDA_DRIVER_FLOORS[driver.GPU_STACK_CUDA]
    assert f"Driver floor: NVIDIA driver >= {floor}**" in (ROOT / "README.md").read_text()
    assert f"NVIDIA driver >= {floor}" in (ROOT / "constraints" / "gpu.txt").read_text()


def test_nvidia_smi_absent_failing_or_listing_nothing(tmp_path: Path) -> None:
    bare = {**os.environ, "PATH": "/usr/bin:/bin"}
    check = [sys.executable, str(ROOT / "scripts" / "gpu_driver_check.py")]
    if not any(Path(p, "nvidia-smi").exists() for p in ("/usr/bin", "/bin")):
        proc = subprocess.run(check, capture_output=True, text=True, env=bare, timeout=120)
        assert proc.returncode == 0 and "no nvidia-smi on PATH" in proc.stdout
        # devices and a kernel driver but no nvidia-smi (a container without the utilities): still checked
        fake_root = tmp_path / "root"
        (fake_root / "dev").mkdir(parents=True)
        (fake_root / "dev" / "nvidia0").touch()
        (fake_root / "dev" / "nvidiactl").touch()
        (fake_root / "proc" / "driver" / "nvidia").mkdir(parents=True)
        (fake_root / "proc" / "driver" / "nvidia" / "version").write_text(
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n")
        assert driver.read_kernel_driver(str(fake_root)) == driver.Smi(("/dev/nvidia0",), "535.104.05", source="/dev")
        proc = subprocess.run(check + ["--root", str(fake_root)], capture_output=True, text=True, env=bare,
                              timeout=120)
        assert proc.returncode == 1 and "/dev lists 1 GPU(s)" in proc.stderr and "535.104.05" in proc.stderr
        (fake_root / "dev" / "nvidia0").unlink()  # the host's driver file alone (a CPU container): no GPU
        assert driver.read_kernel_driver(str(fake_root)) is None
        proc = subprocess.run(check + ["--root", str(fake_root)], capture_output=True, text=True, env=bare,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    none = fake_smi(tmp_path / "none", "No devices were found", code=6)
    assert driver.read_nvidia_smi(str(none / "nvidia-smi")) == driver.Smi((), None)
    broken = fake_smi(tmp_path / "broken", "NVIDIA-SMI has failed because it couldn't communicate with the "
                                           "NVIDIA driver.", code=9)
    smi = driver.read_nvidia_smi(str(broken / "nvidia-smi"))
    verdict = driver.problem(smi, driver.TorchView("2.13.0", None, 0))
    assert "exited 9: NVIDIA-SMI has failed" in str(verdict) and "scripts/gpu-smoke.sh --cpu" in str(verdict)
    proc = run(tmp_path, path_dir=broken)
    assert proc.returncode == 1 and "couldn't communicate with the NVIDIA driver" in proc.stderr
    proc = run(tmp_path, "--cpu", path_dir=broken, PYTHONPATH=shadow(tmp_path))  # --cpu: not looked at
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grpo-multi-gpu         needs 2+ GPUs (0 visible): skipped" in proc.stdout


@pytest.mark.parametrize("gpus", [1, 2])
def test_the_multi_gpu_stage_runs_only_with_two_or_more_gpus(tmp_path: Path, gpus: int) -> None:
    env = {"PYTHONPATH": shadow(tmp_path, torch_gpus=gpus), "FAKE_TORCH_GPUS": str(gpus),
           "FAKE_TORCH_CUDA": "13.0", "FAKE_TORCH_VERSION": "2.13.0+cu130"}
    smi = fake_smi(tmp_path / "bin", "\n".join(["NVIDIA H100 80GB HBM3, 580.65.06"] * gpus))
    strict = run(tmp_path, path_dir=smi, **env)  # a GPU machine without the GPU stack's packages
    assert strict.returncode == 1 and "grpo-vllm              FAIL: trl not installed" in strict.stdout
    full = run(tmp_path, "--allow-skips", path_dir=smi, **env)
    assert full.returncode == 0, full.stdout + full.stderr
    assert f"{gpus} GPU(s), driver 580.65.06" in full.stdout
    lines = {line.split()[0]: line for line in full.stdout.splitlines() if line and not line.startswith(" ")}
    assert lines["grpo-vllm"].endswith("skipped: trl not installed")  # a GPU: past the GPU gate
    if gpus == 1:
        assert lines["grpo-multi-gpu"].endswith("needs 2+ GPUs (1 visible): skipped")
        only = run(tmp_path, "--multi-gpu", "--allow-skips", path_dir=smi, **env)
        assert only.returncode == 1 and "--multi-gpu needs 2 or more GPUs; torch sees 1" in only.stderr
    else:
        assert lines["grpo-multi-gpu"].endswith("skipped: trl not installed")  # past the 2-GPU gate
        only = run(tmp_path, "--multi-gpu", "--allow-skips", path_dir=smi, **env)
        stages = [line.split()[0] for line in only.stdout.splitlines() if "skipped" in line]
        assert only.returncode == 0 and stages == ["tiny-models", "grpo-multi-gpu"], only.stdout


def test_multi_gpu_overrides_pass_the_recipe_check() -> None:
    from pgrpo.train.config import load_train_config, validate_train_config

    args = helpers.grpo_overrides("/runs/mg", "/models/policy", "/models/rm", gpu=True, stage="multi-gpu", steps=3)
    keys = [a.split("=", 1)[0] for a in args]
    assert len(keys) == len(set(keys)), args
    config = load_train_config(ROOT / "recipes" / "tiny-cpu.yaml", args)
    validate_train_config(config, check_paths=False)
    assert (config.grpo["use_vllm"], config.grpo["vllm_mode"], config.grpo["vllm_enable_sleep_mode"]) == \
        (True, "colocate", True)
    assert (config.grpo["bf16"], config.grpo["use_cpu"], config.grpo["max_steps"], config.grpo["save_steps"]) == \
        (True, False, 3, 1)
    assert config.reward.rm_device is None and config.reward.rm_path == "/models/rm"  # each rank: cuda:LOCAL_RANK
    cpu = helpers.grpo_overrides("/runs/hf", "/p", "/r", gpu=False)
    assert "grpo.use_cpu=true" in cpu and "reward.rm_device=cpu" in cpu and not any("vllm" in a for a in cpu)
    with pytest.raises(SystemExit, match="unknown stage"):
        helpers.grpo_overrides("/o", "/p", "/r", gpu=True, stage="fsdp")


def test_zero3_config_for_n_gpus(tmp_path: Path) -> None:
    helpers.zero3_config(tmp_path / "z.yaml", 4)
    config = yaml.safe_load((tmp_path / "z.yaml").read_text())
    assert (config["num_processes"], config["distributed_type"], config["deepspeed_config"]["zero_stage"]) == \
        (4, "DEEPSPEED", 3)
    assert config["deepspeed_config"]["zero3_save_16bit_model"] and isinstance(config["main_process_port"], int)
    with pytest.raises(SystemExit, match="--processes must be >= 1"):
        helpers.zero3_config(tmp_path / "bad.yaml", 0)


def _resumed_run(out: Path, ranks: int, steps: list[int]) -> Path:
    import torch
    from safetensors.torch import save_file

    last = out / "checkpoint-3"
    tag = last / "global_step3"
    tag.mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(last / "model.safetensors"))
    (last / "latest").write_text("global_step3")
    for rank in range(ranks):
        torch.save({}, tag / f"zero_pp_rank_{rank}_mp_rank_00_model_states.pt")
        torch.save({}, tag / f"bf16_zero_pp_rank_{rank}_mp_rank_00_optim_states.pt")
        torch.save({}, last / f"rng_state_{rank}.pth")
    (last / "trainer_state.json").write_text(json.dumps({"global_step": 3}))
    (out / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in steps))
    log = out.parent / "resume.log"
    log.write_text("".join(f"pgrpo train: resuming from {out / 'checkpoint-2'}\n" for _ in range(ranks)))
    return log


def test_resume_verdict(tmp_path: Path, capsys) -> None:
    log = _resumed_run(tmp_path / "ok", 2, [1, 2, 3])
    helpers.check_resume(tmp_path / "ok", log, 2, 3, 2)
    assert "steps 1..3 logged once; checkpoint-3 complete" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="expected 4 rank"):
        helpers.check_resume(tmp_path / "ok", log, 2, 3, 4)
    log = _resumed_run(tmp_path / "twice", 2, [1, 2, 2, 3])
    with pytest.raises(SystemExit, match=r"steps \[1, 2, 2, 3\], expected 1..3 once each"):
        helpers.check_resume(tmp_path / "twice", log, 2, 3, 2)
    log = _resumed_run(tmp_path / "torn", 2, [1, 2, 3])
    (tmp_path / "torn" / "checkpoint-3" / "global_step3" / "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt").unlink()
    with pytest.raises(SystemExit, match="incomplete: global_step3/: different numbers of ranks"):
        helpers.check_resume(tmp_path / "torn", log, 2, 3, 2)
