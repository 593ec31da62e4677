#!/usr/bin/env bash
# Prints the interpreter `make` installs into and runs: the one asked for (PYTHON, default
# python3) when it belongs to a virtual environment or a conda env (an active env is used,
# never replaced) or may be installed into, otherwise the project venv .venv/bin/python: an
# interpreter carrying PEP 668's EXTERNALLY-MANAGED marker (Debian 12, Ubuntu 24.04 system
# Python) refuses `pip install`. Prints only; scripts/install.sh creates .venv.
#   usage: scripts/pick-python.sh [PYTHON]      (PGRPO_VENV overrides the venv's directory)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-${PYTHON:-python3}}
venv=${PGRPO_VENV:-$root/.venv}

# 0: a venv or the active conda env (pip installs there freely); 1: externally managed; 2: other
kind=$("$py" - <<'PY' 2>/dev/null || echo 2
import os, sys, sysconfig
conda = os.environ.get("CONDA_PREFIX")
if sys.prefix != sys.base_prefix or (conda and os.path.realpath(conda) == os.path.realpath(sys.prefix)):
    print(0)
else:
    print(1 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 2)
PY
)
if [ "$kind" = 1 ]; then
  echo "$venv/bin/python"
else
  echo "$py"
fi
