"""The sandbox worker runs inside the jail on the standard library alone (plus pgrpo's own sandbox code):
no pydantic, yaml or other third-party module is loaded there, so the jail's interpreter needs nothing
installed and a restarted worker starts fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pgrpo

SRC = str(Path(pgrpo.__file__).resolve().parents[1])


def test_the_worker_imports_only_the_standard_library_and_pgrpo() -> None:
    # What the worker's import adds (interpreter start-up's own .pth imports, e.g. _distutils_hack, excluded).
    code = (f"import sys, json; sys.path.insert(0, {SRC!r}); before = set(sys.modules); "
            "import pgrpo.sandbox.worker; "
            "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    top = set(json.loads(out))
    foreign = sorted(top - set(sys.stdlib_module_names) - {"pgrpo", "__main__"} - set(sys.builtin_module_names))
    assert "pgrpo" in top and not foreign, foreign
