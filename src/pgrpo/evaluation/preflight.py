"""Before a BigCodeBench run: can the sandbox's Python import the third-party libraries the "unittest"
tasks use? One probe job per library runs through the same sandbox engine (local pool or service, same
jail and limits) as the checks; `ensure_libraries` raises `MissingLibraries` naming what is missing and
the install command, before anything is generated or checked.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import EvalTask
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ExecResult, Job, Status
from pgrpo.verify import Verifier

INSTALL_HINT = "pip install 'pgrpo[bigcodebench]' (from a pgrpo checkout: pip install -e '.[bigcodebench]')"
_MARK = "pgrpo-library-probe|"
_MARKED = re.compile(re.escape(_MARK) + r"(\{.*\})")
# Trusted test code of one probe job: import the library; on failure, say why and where.
_PROBE_TESTS = '''import unittest


class TestCases(unittest.TestCase):
    def test_import(self):
        import importlib
        import json
        import sys

        try:
            importlib.import_module({name!r})
        except Exception as exc:
            error = f"{{type(exc).__name__}}: {{exc}}"[:200]
            raise AssertionError({mark!r} + json.dumps({{"error": error, "python": sys.executable}})) from None
'''


class MissingLibraries(PgrpoError):
    """The sandbox's Python cannot import libraries the selected tasks use."""


@dataclass(frozen=True)
class LibraryProbe:
    """One library's probe: `ok`, or why not and the sandbox Python's sys.executable (if it said)."""

    name: str
    ok: bool
    error: str = ""
    python: str | None = None


def _imported_modules(code: str) -> set[str]:
    """Top-level modules `code` imports (absolute imports only); unparsable code gives none."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def required_libraries(tasks: Iterable[EvalTask]) -> tuple[str, ...]:
    """The third-party modules the "unittest" tasks among `tasks` name in `libs` or import, sorted."""
    names: set[str] = set()
    for task in tasks:
        problem = task.problem
        if problem is None or problem.tests.kind is not TestKind.UNITTEST:
            continue
        libs = problem.metadata.get("libs")
        if isinstance(libs, (list, tuple)):
            names.update(str(lib).split(".")[0] for lib in libs)
        for code in (problem.starter_code, problem.canonical_solution or "", problem.tests.test_code):
            names.update(_imported_modules(code))
    stdlib = {*sys.stdlib_module_names, "__future__"}
    return tuple(sorted(n for n in names if n.isidentifier() and n not in stdlib))


def _reading(name: str, result: ExecResult) -> LibraryProbe:
    if result.status is Status.PASSED:
        return LibraryProbe(name, True)
    marked = _MARKED.search(result.detail)
    if marked is not None:
        try:
            report = json.loads(marked.group(1))
            return LibraryProbe(name, False, str(report["error"]), str(report["python"]))
        except (ValueError, KeyError):
            pass
    detail = result.detail.strip().splitlines()[-1] if result.detail.strip() else "no detail"
    return LibraryProbe(name, False, f"{result.status.value}: {detail}"[:300])


def probe_libraries(names: Sequence[str], config: SandboxConfig) -> list[LibraryProbe]:
    """Import each of `names` in its own job in the sandbox `config` runs (same order)."""
    if not names:
        return []
    jobs = [Job(Problem(f"pgrpo/library-probe/{name}", f"import {name}",
                        Tests(TestKind.UNITTEST, test_code=_PROBE_TESTS.format(name=name, mark=_MARK))), "")
            for name in names]
    with Verifier(config) as verifier:
        results = verifier.run_jobs(jobs)
    return [_reading(name, result) for name, result in zip(names, results, strict=True)]


def missing_message(missing: Sequence[LibraryProbe], benchmarks: Sequence[str], config: SandboxConfig) -> str:
    """What `MissingLibraries` says: which libraries, where, how to install them, and any unusual reason."""
    where = (f"the sandbox service at {', '.join(config.urls)} (the environment running `pgrpo sandbox serve`)"
             if config.urls else "this host's sandbox")
    pythons = sorted({p.python for p in missing if p.python})
    python = f", {', '.join(pythons)}" if pythons else ""
    unusual = [f"{p.name}: {p.error}" for p in missing
               if p.error != f"ModuleNotFoundError: No module named {p.name!r}"]
    reasons = f" Import errors: {'; '.join(unusual)}." if unusual else ""
    if not config.urls and (sys.prefix + "/").startswith("/tmp/"):
        reasons += (f" Note: programs run with a private /tmp, so this Python environment ({sys.prefix}) is "
                    "invisible to them; create it outside /tmp.")
    return (f"{', '.join(benchmarks)}: missing libraries {', '.join(p.name for p in missing)}: the tasks' programs "
            f"import them and the Python that runs them ({where}{python}) cannot. Nothing was generated or "
            f"checked (every task using them would be a runtime_error). Install BigCodeBench's libraries into "
            f"that Python: {INSTALL_HINT}.{reasons}")


def ensure_libraries(tasks: dict[str, list[EvalTask]], sandbox: SandboxConfig) -> list[LibraryProbe]:
    """MissingLibraries unless the sandbox imports every library the tasks need (no sandbox if none)."""
    unittest_tasks = [t for ts in tasks.values() for t in ts
                      if t.problem is not None and t.problem.tests.kind is TestKind.UNITTEST]
    names = required_libraries(unittest_tasks)
    if not names:
        return []
    probes = probe_libraries(names, sandbox)  # 'unittest' jobs: under that kind's limits, local or served
    missing = [p for p in probes if not p.ok]
    if missing:
        benchmarks = sorted({t.benchmark for t in unittest_tasks})
        raise MissingLibraries(missing_message(missing, benchmarks, sandbox))
    return probes
