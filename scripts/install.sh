#!/usr/bin/env bash
# Installs everything pgrpo needs on a fresh machine: system packages (bubblewrap for the
# sandbox), a CPU build of torch when no GPU is present, then pgrpo itself with the dev extra and
# the toy world of `pgrpo demo` (examples/toy).
# Idempotent; safe to rerun. Override the interpreter with PYTHON=..., torch with TORCH_SPEC=...
#
# Where it installs (scripts/pick-python.sh decides; prints the choice):
# - into PYTHON when it is a virtual environment or the active conda env (used, never replaced),
#   or an interpreter that allows pip installs (pyenv, a python.org build, ...);
# - into the project venv .venv (created from PYTHON) when PYTHON is externally managed
#   (PEP 668: Debian 12 / Ubuntu 24.04 system Python). Missing venv support (Debian's
#   python3.X-venv) is installed with apt when we are root, else the exact command is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${PYTHON:-python3}
PY=$(bash scripts/pick-python.sh "$BASE")
APT_OK=${PGRPO_APT:-auto}   # auto: apt-get when root and present; 0: never (prints the command)

can_apt() {
  [ "$APT_OK" != 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

apt_install() {  # apt_install PKG...: installs, or says what to run and fails
  if can_apt; then
    echo "[install] apt-get install $*"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

if ! command -v bwrap >/dev/null 2>&1; then
  echo "[install] bubblewrap (sandbox isolation)"
  if ! apt_install bubblewrap; then
    echo "[install] WARNING: bubblewrap missing and cannot be installed here (not root or no apt)." >&2
    echo "[install]          run: sudo apt-get install bubblewrap" >&2
    echo "[install]          The sandbox will fall back to weaker isolation; see README 'Sandbox'." >&2
  fi
fi

if [ "$PY" != "$BASE" ] && [ ! -x "$PY" ]; then
  VENV=$(dirname "$(dirname "$PY")")
  echo "[install] $BASE is externally managed (PEP 668): creating the project venv $VENV"
  if ! "$BASE" -c "import ensurepip, venv" >/dev/null 2>&1; then
    VER=$("$BASE" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if ! apt_install "python$VER-venv" && ! apt_install python3-venv; then
      echo "[install] ERROR: $BASE cannot create a virtual environment (no ensurepip/venv)." >&2
      echo "[install]        run: sudo apt-get install python$VER-venv   (then rerun make)" >&2
      echo "[install]        or activate a virtual/conda environment of your own and rerun make." >&2
      exit 1
    fi
  fi
  "$BASE" -m venv "$VENV"
fi
PREFIX=$("$PY" -c 'import sys; print(sys.prefix)')
echo "[install] into $PREFIX"
case "$PREFIX/" in
  /tmp/*)
    echo "[install] WARNING: $PREFIX is under /tmp: sandboxed programs get a private /tmp and cannot import" >&2
    echo "[install]          its libraries (BigCodeBench tasks and their tests need numpy, pandas...)." >&2
    echo "[install]          Use an environment outside /tmp (PGRPO_VENV=DIR for the project venv)." >&2
    ;;
esac

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    TORCH_SPEC=${TORCH_SPEC:-torch}
  else
    # A bare `torch` pulls several GB of CUDA packages; the pinned CPU build does not.
    TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
  fi
  echo "[install] $TORCH_SPEC"
  "$PY" -m pip install -q "$TORCH_SPEC"
fi

echo "[install] pgrpo[dev,engines]"
"$PY" -m pip install -q -e ".[dev,engines]"
# The toy world behind `pgrpo demo` (examples/toy, the pgrpo_toy plugin): its own package, without
# its dependencies (pgrpo and torch are in already; pip must not resolve torch again), then the one
# it adds (scipy, also in pgrpo's dev extra).
echo "[install] --no-deps -e examples/toy"
"$PY" -m pip install -q --no-deps -e examples/toy
"$PY" -m pip install -q "scipy>=1.9.2"
# verl and OpenRLHF themselves, for pgrpo.engines and its tests (tests/engines): without their
# dependencies, which pin another torch/transformers (pyproject.toml, the `engines` extra).
ENGINE_PINS="verl==0.9.1 tensordict==0.10.0 openrlhf==0.11.2"
echo "[install] --no-deps $ENGINE_PINS"
# shellcheck disable=SC2086
"$PY" -m pip install -q --no-deps $ENGINE_PINS
echo "[install] done: $("$PY" -m pgrpo --version)"
if [ "$PY" != "$BASE" ]; then
  echo "[install] make uses $PY; to use it yourself: . $(dirname "$PY")/activate"
fi
