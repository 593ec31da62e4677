"""The first step of scripts/gpu-smoke.sh: GPUs that nvidia-smi lists but torch cannot use are
a failure, never "no GPU: skipped". Owns NVIDIA's driver floor per CUDA major version (the one
place it is written down in code) and the verdict: the driver version nvidia-smi reports, the
CUDA version the installed torch is built for and the driver that build needs.

    python scripts/gpu_driver_check.py      # exit 0: torch sees the GPUs, or there is no NVIDIA GPU
                                            # exit 1: the reason, with driver and floor
Without nvidia-smi, the device nodes /dev/nvidiaN and /proc/driver/nvidia/version still count.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass

# NVIDIA's minimum Linux driver per CUDA major version (CUDA minor-version compatibility: a
# build for any CUDA X.y runs on a driver at or above X's floor). Source: the CUDA Toolkit
# release notes' "CUDA Toolkit and Minimum Required Driver Version for CUDA Minor Version
# Compatibility" and https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html
# (CUDA 13.x: >= 580; CUDA 12.x: >= 525.60.13; CUDA 11.x: >= 450.80.02).
CUDA_DRIVER_FLOORS = {13: "580", 12: "525.60.13", 11: "450.80.02"}
# The CUDA major version of the torch that constraints/gpu.txt pins (torch 2.13.0's Linux wheel
# on PyPI requires cuda-toolkit 13.0.x; tests/test_gpu_install.py checks it against pip's answer).
GPU_STACK_CUDA = 13
INSTALL = "pip install -c constraints/gpu.txt -e \".[gpu]\""


@dataclass(frozen=True)
class Smi:
    """What nvidia-smi says: the GPUs it lists and the driver version (None: it failed)."""

    gpus: tuple[str, ...]
    driver: str | None
    error: str = ""
    source: str = "nvidia-smi"  # or "/dev" (device nodes, without nvidia-smi)


@dataclass(frozen=True)
class TorchView:
    """The installed torch: its version, the CUDA it is built for (None: CPU-only build), how
    many GPUs it can use, and what it warned while looking."""

    version: str
    cuda: str | None
    gpus: int
    says: str = ""


def version_key(version: str) -> tuple[int, ...]:
    """'535.104.05' -> (535, 104, 5): driver versions compare numerically, part by part."""
    parts = []
    for part in version.strip().split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def required_driver(cuda: str) -> str | None:
    """The minimum driver for a torch built for CUDA `cuda` ('13.0' -> '580'); None if unknown."""
    return CUDA_DRIVER_FLOORS.get(version_key(cuda)[0])


def read_nvidia_smi(exe: str) -> Smi:
    """GPU names and the driver version from `nvidia-smi --query-gpu`; a failing nvidia-smi
    (no driver loaded) is Smi((), None, its message); 'No devices were found' is no GPUs."""
    try:
        proc = subprocess.run([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Smi((), None, f"{exe}: {exc}")
    text = (proc.stdout + proc.stderr).strip()
    if "No devices were found" in text:
        return Smi((), None)
    if proc.returncode != 0:
        return Smi((), None, f"{exe} exited {proc.returncode}: {text[-500:]}")
    rows = [line.rsplit(",", 1) for line in proc.stdout.splitlines() if "," in line]
    drivers = sorted({row[1].strip() for row in rows})
    return Smi(tuple(row[0].strip() for row in rows), drivers[0] if drivers else None)


def read_kernel_driver(root: str = "/") -> Smi | None:
    """Without nvidia-smi (a container given the devices but not the utilities, e.g.
    NVIDIA_DRIVER_CAPABILITIES=compute): the GPU device nodes under `root`/dev, with the driver
    version the kernel module reports in `root`/proc/driver/nvidia/version; None without device
    nodes (the version file alone also shows in containers on a GPU host that were given none)."""
    dev = os.path.join(root, "dev")
    try:
        nodes = sorted(n for n in os.listdir(dev) if n.startswith("nvidia") and n[len("nvidia"):].isdigit())
    except OSError:
        nodes = []
    driver = None
    try:
        with open(os.path.join(root, "proc", "driver", "nvidia", "version"), encoding="utf-8") as f:
            words = f.readline().split()  # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  <date>"
        driver = next((w for w in words if w[:1].isdigit() and "." in w), None)
    except OSError:
        pass
    if not nodes:  # the version file alone is no GPU: a container not given GPUs sees the host's /proc
        return None
    return Smi(tuple(f"/dev/{n}" for n in nodes), driver, source="/dev")


def look_at_torch() -> TorchView:
    """torch's own view, with the warnings it gives while initialising CUDA (the driver message)."""
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    says = " ".join(str(w.message).strip() for w in caught)
    return TorchView(str(torch.__version__), torch.version.cuda, int(gpus), says)


def problem(smi: Smi, torch_view: TorchView) -> str | None:
    """Why the GPUs nvidia-smi lists cannot be used by torch, naming the driver version and the
    driver torch's CUDA build needs; None when there is nothing to use or torch uses it."""
    if smi.error:
        return (f"nvidia-smi is installed but failed ({smi.error}): the NVIDIA driver is not usable. "
                "On a machine without GPUs run scripts/gpu-smoke.sh --cpu.")
    if not smi.gpus or torch_view.gpus > 0:
        return None
    listed = f"{smi.source} lists {len(smi.gpus)} GPU(s) ({smi.gpus[0]}) with driver {smi.driver}"
    said = f" torch says: {torch_view.says}" if torch_view.says else ""
    if torch_view.cuda is None:
        stack_floor = CUDA_DRIVER_FLOORS[GPU_STACK_CUDA]
        old = smi.driver is None or version_key(smi.driver) < version_key(stack_floor)
        return (f"{listed}, but torch {torch_view.version} is a CPU-only build. Install the GPU stack "
                f"({INSTALL}); its CUDA {GPU_STACK_CUDA} build needs driver >= {stack_floor}"
                + (f", so upgrade driver {smi.driver} too." if old else "."))
    floor = required_driver(torch_view.cuda)
    needs = f"torch {torch_view.version} is built for CUDA {torch_view.cuda}, which needs driver >= {floor}"
    if floor is None:
        return f"{listed}, but torch {torch_view.version} (CUDA {torch_view.cuda}) sees none; no known driver floor.{said}"
    if smi.driver is None or version_key(smi.driver) < version_key(floor):
        return (f"{listed}, but {needs}: torch cannot use them. Upgrade the NVIDIA driver to >= {floor} "
                f"(README: GPU install).{said}")
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f"CUDA_VISIBLE_DEVICES={hidden!r}" if hidden is not None else "CUDA_VISIBLE_DEVICES"
    return (f"{listed}, and {needs} (met), yet torch sees no GPU: check {where} and the container's GPU "
            f"access (docker --gpus / the NVIDIA container runtime).{said}")


def main(root: str = "/") -> int:
    exe = shutil.which("nvidia-smi")
    kernel = read_kernel_driver(root) if exe is None else None
    if exe is None and kernel is None:
        print("driver check: no nvidia-smi on PATH, no NVIDIA device or kernel driver: no NVIDIA GPU to check")
        return 0
    smi = read_nvidia_smi(exe) if exe is not None else kernel
    assert smi is not None
    try:
        torch_view = look_at_torch()
    except ImportError as exc:  # torch missing: a CPU-only view (the GPUs still need the GPU stack)
        torch_view = TorchView(f"(not importable: {exc})", None, 0)
    reason = problem(smi, torch_view)
    if reason is not None:
        print(f"gpu-smoke: FAIL: {reason}", file=sys.stderr)
        return 1
    if smi.gpus:
        print(f"driver check: {len(smi.gpus)} GPU(s), driver {smi.driver}; torch {torch_view.version} "
              f"(CUDA {torch_view.cuda}, needs >= {required_driver(torch_view.cuda or '')}) uses {torch_view.gpus}")
    else:
        print("driver check: nvidia-smi lists no GPU")
    return 0


if __name__ == "__main__":
    # --root DIR: read dev/ and proc/driver/nvidia/ under DIR instead of / (tests)
    raise SystemExit(main(sys.argv[2]) if sys.argv[1:2] == ["--root"] else main())
