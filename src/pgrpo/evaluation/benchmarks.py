"""The benchmark registry `BENCHMARKS` (names -> source and task kind), `file:PATH`,
`--data NAME=PATH` overrides and `EvalTask`. Problems load, and prompts are built, by the kind's task
type (`pgrpo.verify.TASK_TYPES`, as in training). Only `humaneval` is packaged; offline, the hub ones
say to pass `--data NAME=PATH`. BigCodeBench's limits belong to its test kind ("unittest").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrpo.data.eval_sources import CODE_EVAL_SOURCES
from pgrpo.data.loaders.bigcodebench import as_instruct
from pgrpo.data.loaders.reading import first_record
from pgrpo.data.math import looks_like_math
from pgrpo.data.problem import Problem, TestKind
from pgrpo.errors import DataError, PgrpoError
from pgrpo.paths import is_local_path
from pgrpo.registry import Registry
from pgrpo.verify import Task, task_type


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
        if name not in BENCHMARKS:
            raise PgrpoError(f"--data {item!r}: unknown benchmark {name!r}; known: {', '.join(BENCHMARKS.names())}")
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
        return BENCHMARKS.get(name)
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
