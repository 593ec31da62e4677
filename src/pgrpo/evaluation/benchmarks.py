"""The benchmark registry `BENCHMARKS` (names -> source and task kind), `file:PATH`,
`--data NAME=PATH` overrides and `EvalTask`. Problems load, and prompts are built, by the kind's task
type (`pgrpo.verify.TASK_TYPES`, as in training). Only `humaneval` is packaged; offline, the hub ones
say to pass `--data NAME=PATH`. BigCodeBench's limits belong to its test kind ("unittest"); before its
run, `ensure_libraries` probes, in the sandbox the checks use, that its tasks' libraries import.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrpo.data.eval_sources import CODE_EVAL_SOURCES
from pgrpo.data.loaders.bigcodebench import as_instruct
from pgrpo.data.loaders.reading import first_record
from pgrpo.data.math import looks_like_math
from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.unittest_suite import test_imports
from pgrpo.errors import DataError, PgrpoError
from pgrpo.paths import is_local_path
from pgrpo.registry import Registry
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ExecResult, Job, Status
from pgrpo.verify import Task, Verifier, task_type


@dataclass(frozen=True)
class EvalTask:
    """One task of one benchmark."""

    benchmark: str
    task: Task

    @property
    def kind(self) -> str:
        return self.task.kind

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def problem(self) -> Problem | None:
        """The code problem (None for math)."""
        return self.task if isinstance(self.task, Problem) else None

    @property
    def difficulty(self) -> str | None:
        return self.problem.difficulty if self.problem is not None else None

    @property
    def contest_date(self) -> dt.date | None:
        return self.problem.contest_date if self.problem is not None else None


@dataclass(frozen=True)
class BenchmarkSpec:
    """A named benchmark."""

    name: str
    kind: str
    source: str
    description: str
    split: str | None = None
    base_tests_only: bool = False  # EvalPlus rows graded on their original (base) inputs only
    transform: Callable[[Problem], Problem] | None = None  # applied to each loaded problem (a prompt split)
    test_kind: TestKind | None = None  # every problem must have tests of this kind (None: any)


# BigCodeBench: the full set (its source shared with build-rl's decontamination) and the hard subset, each
# in the complete and the instruct split; one pass@1 per name, as on the leaderboard
BCB_FULL = CODE_EVAL_SOURCES["bigcodebench"].path
BCB_VERSION = str(CODE_EVAL_SOURCES["bigcodebench"].split)  # the hub split bigcodebench 0.2.5 evaluates
BIGCODEBENCH = (
    ("bigcodebench", BCB_FULL, "Complete", "full (1,140 tasks"),
    ("bigcodebench_instruct", BCB_FULL, "Instruct", "full (1,140 tasks"),
    ("bigcodebench_hard", "bigcode/bigcodebench-hard", "Complete", "hard subset (148 tasks"),
    ("bigcodebench_hard_instruct", "bigcode/bigcodebench-hard", "Instruct", "hard subset (148 tasks"),
)


def _code(name: str, description: str, **extra: Any) -> BenchmarkSpec:
    """A code benchmark on its source in CODE_EVAL_SOURCES (shared with build-rl's decontamination)."""
    source = CODE_EVAL_SOURCES[name]
    return BenchmarkSpec(name, "code", source.path, description, split=source.split, **extra)


BENCHMARKS: Registry[BenchmarkSpec] = Registry("benchmark")
for _spec in (
    _code("humaneval", "HumanEval, 164 problems (packaged, offline)"),
    _code("humaneval_plus", "HumanEval+ (EvalPlus release; hub)"),
    _code("mbpp", "MBPP (EvalPlus's 378 problems, base tests only; hub)", base_tests_only=True),
    _code("mbpp_plus", "MBPP+ (EvalPlus release; hub)"),
    _code("lcb", "LiveCodeBench code generation (hub); split by difficulty and date"),
    BenchmarkSpec("math500", "math", "HuggingFaceH4/MATH-500", "MATH500 (hub)", split="test"),
    BenchmarkSpec("aime24", "math", "HuggingFaceH4/aime_2024", "AIME 2024, 30 problems (hub)", split="train"),
    BenchmarkSpec("minerva", "math", "math-ai/minervamath", "Minerva math (hub)", split="test"),
    *(BenchmarkSpec(name, "code", source, f"BigCodeBench-{split}, {subset}; hub)", split=BCB_VERSION,
                    transform=as_instruct if split == "Instruct" else None, test_kind=TestKind.UNITTEST)
      for name, source, split, subset in BIGCODEBENCH),
):
    BENCHMARKS.add(_spec.name, _spec)

FILE_PREFIX = "file:"


def _load(spec: BenchmarkSpec, source: str, limit: int | None, options: Mapping[str, Any]) -> list[Task]:
    """The tasks of `spec` from `source` through its kind's task type, checked and transformed as `spec` says."""
    local = is_local_path(source) or source == "humaneval"
    kwargs = dict(options)
    split = kwargs.pop("split", None if local else spec.split)
    try:
        tasks = task_type(spec.kind).load(source, split=split, limit=limit, name=spec.name, **kwargs)
    except Exception as exc:  # noqa: BLE001 - hub/network failures: say how to work offline
        if local:
            raise
        raise PgrpoError(f"benchmark {spec.name!r}: cannot load {source!r} ({type(exc).__name__}: {exc}). "
                         f"Without network, download the data elsewhere and pass "
                         f"--data {spec.name}=PATH") from exc
    out: list[Task] = []
    for task in tasks:
        if isinstance(task, Problem):  # the code benchmarks' checks and prompt splits
            task = base_tests_only(task) if spec.base_tests_only else task
            if spec.test_kind is not None and task.tests.kind is not spec.test_kind:
                raise DataError(f"benchmark {spec.name!r}: {source}: task {task.task_id!r} has tests of kind "
                                f"{task.tests.kind.value!r}, expected {spec.test_kind.value!r} (is this the "
                                f"benchmark's file?)")
            try:
                task = spec.transform(task) if spec.transform is not None else task
            except DataError as exc:
                raise DataError(f"benchmark {spec.name!r}: {source}: {exc}") from None
        out.append(task)
    return out


def base_tests_only(problem: Problem) -> Problem:
    """An EvalPlus problem graded on its base inputs only (EvalPlus's "base" score), the first
    metadata["base_count"] call cases; problems without it (original MBPP rows) stay as they are."""
    count = problem.metadata.get("base_count")
    if not isinstance(count, int) or problem.tests.kind is not TestKind.CALL or count <= 0:
        return problem
    tests = dataclasses.replace(problem.tests, call_cases=problem.tests.call_cases[:count])
    return dataclasses.replace(problem, tests=tests)


def task_messages(task: EvalTask, style: str) -> list[dict[str, str]]:
    """The chat messages the model sees for `task` in prompt `style` ("pgrpo" | "plain")."""
    return task_type(task.kind).messages(task.task, style)


def detect_kind(path: Path) -> str:
    """"math" if the file's first record looks like (problem, answer), else "code"."""
    try:
        return "math" if looks_like_math(first_record(str(path)).data) else "code"
    except PgrpoError:
        return "code"  # unreadable or empty: the code loaders report it


def parse_data_overrides(items: list[str] | None) -> dict[str, str]:
    """`["lcb=/data/lcb.jsonl", ...]` -> {"lcb": "/data/lcb.jsonl"}; names must be known benchmarks."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise PgrpoError(f"--data {item!r}: expected NAME=PATH")
        name = name.strip()
        try:
            BENCHMARKS.lookup(name)
        except KeyError:
            raise PgrpoError(f"--data {item!r}: unknown benchmark {name!r}; "
                             f"known: {', '.join(BENCHMARKS.names())}") from None
        out[name] = path.strip()
    return out


def resolve_spec(name: str) -> BenchmarkSpec:
    """A registered benchmark, or `file:PATH` (kind detected from the file's records)."""
    if name.startswith(FILE_PREFIX):
        path = Path(name[len(FILE_PREFIX):])
        if not path.exists():
            raise PgrpoError(f"benchmark {name!r}: {path}: file not found")
        return BenchmarkSpec(name, detect_kind(path), str(path), f"local file {path}")
    try:
        return BENCHMARKS.lookup(name)
    except KeyError as exc:
        raise PgrpoError(f"{exc.args[0]} (or file:PATH for a local problem file)") from None


def load_benchmark(name: str, *, data: Mapping[str, str] | None = None, limit: int | None = None,
                   options: Mapping[str, Any] | None = None) -> list[EvalTask]:
    """Benchmark `name`'s tasks; `data`: local files replacing default sources; `options`: to the loader."""
    spec = resolve_spec(name)
    source = (data or {}).get(name, spec.source)
    tasks = [EvalTask(spec.name, t) for t in _load(spec, source, limit, options or {})]
    if not tasks:
        raise PgrpoError(f"benchmark {name!r}: no problems loaded from {source!r} (check the filters)")
    return tasks


# -- before a BigCodeBench run: can the sandbox import the libraries its tasks use? -------------------
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
            names.update(module.split(".")[0] for module in test_imports(code))  # absolute imports only
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
