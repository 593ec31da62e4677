"""Before a BigCodeBench run: can the sandbox's Python import the libraries its tasks use?

Owns `required_libraries` (the third-party top-level modules the selected "unittest" tasks
name in their `libs` field or import in their starter code, canonical solution and tests;
the standard library left out), `probe_libraries` (one tiny probe job per library, run
THROUGH THE SANDBOX ENGINE the checks use - local pool or `pgrpo sandbox serve` service, same
interpreter, same jail, the unittest kind's limits) and `ensure_libraries`, which raises
`MissingLibraries` naming what is missing and the install command. `pgrpo evaluate` calls
it before generating or checking anything, so a missing library stops the run up front
instead of turning every task that uses it into a `runtime_error` verdict.
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
    """One library's probe: `ok` iff the sandbox's Python imported it; else why, and that
    Python's sys.executable (None when the probe itself did not report it)."""

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


def _third_party(name: str) -> bool:
    return name.isidentifier() and name != "__future__" and name not in sys.stdlib_module_names


def required_libraries(tasks: Iterable[EvalTask]) -> tuple[str, ...]:
    """The third-party modules the "unittest" (BigCodeBench) tasks among `tasks` need, sorted:
    their `libs` field and what their starter code, canonical solution and tests import."""
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
    return tuple(sorted(n for n in names if _third_party(n)))


def _probe_job(name: str) -> Job:
    tests = Tests(kind=TestKind.UNITTEST, test_code=_PROBE_TESTS.format(name=name, mark=_MARK))
    problem = Problem(task_id=f"pgrpo/library-probe/{name}", statement=f"import {name}", tests=tests,
                      entry_point="")
    return Job(problem, "")


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
    with Verifier(config) as verifier:
        results = verifier.run_jobs([_probe_job(name) for name in names])
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
    """Probe the libraries the BigCodeBench tasks among `tasks` need; MissingLibraries naming the
    missing ones and the install command. Starts no sandbox when no task needs a library."""
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
