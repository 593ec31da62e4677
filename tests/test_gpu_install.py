"""The GPU install stack (`.[gpu]` + constraints/gpu.txt) is a set that works together.

- pip's own resolver accepts `-c constraints/gpu.txt ".[gpu]"` for a CUDA Linux machine,
  reading metadata only: PEP 658 metadata where the index serves it, otherwise HTTP range
  reads of each wheel's METADATA (`--use-feature=fast-deps`; a pip >= 25 is put in a
  throwaway venv because older pips download every wheel in a dry run: several GB here).
  The machine's pip config (local CPU wheels, caps) is ignored: a GPU user has none of it.
- every shipped recipe gives the same `--check` verdict under the GPU stack's pinned
  transformers/TRL (installed, with what they need in other versions, into a throwaway
  venv that sees this environment's packages beneath them) as under the installed CPU stack: a recipe key that only some transformers know
  fails here.

The resolve and the pinned venv need the package registry: those tests are marked `network`
(tests/conftest.py: skipped, saying so, when it cannot be reached; failed instead in CI, where
CI=true); marked slow (about 2 minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints" / "gpu.txt"
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
RM_RECIPES = sorted((ROOT / "recipes" / "rm").glob("*.yaml"))

pytestmark = pytest.mark.slow


def pins() -> dict[str, str]:
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            out[name.strip().lower()] = version.strip()
    return out


def gpu_stack_cuda() -> int:
    """scripts/gpu_driver_check.py's GPU_STACK_CUDA (the CUDA major of constraints/gpu.txt's torch)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_driver_check", ROOT / "scripts" / "gpu_driver_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_driver_check", module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return int(module.GPU_STACK_CUDA)


def clean_pip_env() -> dict[str, str]:
    """pip as a GPU user's machine runs it: no machine-local config, find-links or caps."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in ("PIP_CERT", "PIP_INDEX_URL")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_constraints_pin_a_vllm_inside_trls_range() -> None:
    p = pins()
    vllm = tuple(int(x) for x in p["vllm"].split(".")[:2])
    assert (0, 22) <= vllm <= (0, 31), p["vllm"]
    assert p["trl"].startswith("1.16.")
    for name in ("torch", "transformers", "deepspeed", "accelerate"):
        assert name in p, f"constraints/gpu.txt pins no {name}"


@pytest.mark.network
def test_gpu_set_resolves_with_pips_resolver_metadata_only(tmp_path: Path) -> None:
    venv = tmp_path / "pipvenv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    # a current pip, installed from the outer one into the throwaway venv (a wheel of ~2 MB)
    subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "pip>=25"],
                   check=True, env=clean_pip_env(), timeout=300)
    report = tmp_path / "report.json"
    start = time.monotonic()
    proc = subprocess.run(
        [py, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--use-feature=fast-deps",
         "--report", str(report), "-c", str(CONSTRAINTS), f"{ROOT}[gpu]", "-v"],
        capture_output=True, text=True, env=clean_pip_env(), timeout=900, cwd=tmp_path,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    chosen = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    for name, version in pins().items():
        if name != "flash-attn":  # the optional `flash` extra (built against torch; see pyproject)
            assert chosen.get(name) == version, (name, chosen.get(name), version)
    assert any(n.startswith("nvidia-") for n in chosen), "resolved a CPU torch, not the CUDA one"
    # the CUDA major the driver check (and the README's driver floor) assumes for this stack
    toolkit = chosen.get("cuda-toolkit", "")
    assert toolkit.split(".")[0] == str(gpu_stack_cuda()), (toolkit, gpu_stack_cuda())
    # metadata only: nothing but small files is downloaded whole (deepspeed ships only an sdist)
    whole = [line for line in proc.stdout.splitlines() if line.strip().startswith("Downloading ")]
    assert all("MB)" not in line or float(line.rsplit("(", 1)[1].split()[0]) < 20 for line in whole), whole
    print(f"resolved {len(chosen)} packages in {elapsed:.0f} s; downloaded whole: {whole}")


# pgrpo and the toy world's plugin from this checkout: the pinned venv sees the outer site-packages through a
# .pth, which (unlike a site dir) does not run the editable installs' own .pth finders.
SOURCES = os.pathsep.join(str(ROOT / path) for path in ("src", "examples/toy/src"))


def run_check(recipe: Path, python: str) -> tuple[int, str]:
    """Exit code and last output line of `pgrpo [rm] train --config RECIPE --check`."""
    group = ["rm", "train"] if recipe.parent.name == "rm" else ["train"]
    command = [python, "-m", "pgrpo", *group, "--config", str(recipe), "--check"]
    env = {**os.environ, "PYTHONPATH": SOURCES}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode, lines[-1] if lines else ""


@pytest.fixture(scope="module")
def pinned_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throwaway venv that sees this environment's packages (a .pth naming its site dirs, as
    --system-site-packages would, but also from inside a venv) with transformers and TRL at
    the GPU pins, plus whatever of their dependencies those pins need in other versions,
    installed on top."""
    venv = tmp_path_factory.mktemp("gpu-pins")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    outer = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(site, "zz_outer_env.pth").write_text("\n".join(sorted(outer)) + "\n")
    p = pins()
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "-q",
                           f"transformers=={p['transformers']}", f"trl=={p['trl']}"],
                          capture_output=True, text=True, env=clean_pip_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = subprocess.run([py, "-c", "import transformers, trl; print(transformers.__version__, trl.__version__)"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SOURCES})
    assert out.stdout.split() == [p["transformers"], p["trl"]], out.stdout + out.stderr[-2000:]
    return py


@pytest.mark.network
@pytest.mark.parametrize("recipe", RECIPES + RM_RECIPES, ids=lambda r: str(r.relative_to(ROOT / "recipes")))
def test_recipe_check_same_under_gpu_pins(recipe: Path, pinned_python: str, recipe_project: Path) -> None:
    # the copy of recipes/ next to stand-ins for what earlier stages write (tests/conftest.py)
    copy = recipe_project / "recipes" / recipe.relative_to(ROOT / "recipes")
    cpu = run_check(copy, sys.executable)
    gpu = run_check(copy, pinned_python)
    assert gpu == cpu, f"{recipe.name}: CPU stack {cpu} but GPU pins {gpu}"
    assert gpu[0] == 0, f"{recipe.name} fails --check under the GPU pins: {gpu[1]}"
