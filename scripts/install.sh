#!/usr/bin/env bash
# Installs everything pgrpo needs on a fresh machine: system packages (bubblewrap for the
# sandbox), a CPU build of torch when no GPU is present, then pgrpo itself with the dev extra.
# Idempotent; safe to rerun. Override the interpreter with PYTHON=..., torch with TORCH_SPEC=...
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[install] bubblewrap (sandbox isolation)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "[install] WARNING: bubblewrap missing and cannot be installed here (not root or no apt)." >&2
    echo "[install]          The sandbox will fall back to weaker isolation; see README 'Sandbox'." >&2
  fi
fi

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

echo "[install] pgrpo[dev]"
"$PY" -m pip install -q -e ".[dev]"
echo "[install] done: $("$PY" -m pgrpo --version)"
