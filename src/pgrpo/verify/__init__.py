"""The ONE pass/fail judgement every stage calls: `verify(task, response) -> Verdict`.

Training, `pgrpo evaluate`, `check`, `bench build` and `rm pairs` judge here, so "reward 1" and
"passed" are the same fact. Batch with `with Verifier(SandboxConfig()) as v: v([(task, response)])`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ExecResult, Job, SandboxEngine, check_isolation
from pgrpo.verify.code import CodeTask, verdict_from_exec
from pgrpo.verify.math import MathTask
from pgrpo.verify.verdict import BatchVerify, JobRunner, Task, TaskType, Verdict

__all__ = ["TASK_TYPES", "BatchVerify", "CodeTask", "JobRunner", "MathTask", "Task", "TaskType", "Verdict",
           "Verifier", "task_type", "verdict_from_exec", "verify"]

# The task kinds (a recipe's `task:`, a benchmark's kind) and their one type each.
TASK_TYPES: dict[str, type[TaskType[Any]]] = {t.kind: t for t in (CodeTask, MathTask)}


def task_type(kind: str) -> type[TaskType[Any]]:
    """The task type of `kind`; ValueError naming the known kinds otherwise."""
    try:
        return TASK_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown task kind {kind!r}; known: {', '.join(TASK_TYPES)}") from None


class Verifier:
    """Judges (task, response) pairs (a `BatchVerify`) in one sandbox (a local pool or `sandbox.url`
    services), started on the first code item, until `close()`. `think_prefilled`: the prompts ended
    with "<think>"; `runner`: runs jobs instead of a sandbox (tests)."""

    def __init__(self, sandbox_config: SandboxConfig | None = None, *, think_prefilled: bool = False,
                 progress: bool = False, runner: JobRunner | None = None) -> None:
        self.sandbox_config = sandbox_config
        self.think_prefilled = think_prefilled
        self.progress = progress
        self.runner = runner
        self._sandbox: SandboxEngine | None = None

    def run_jobs(self, jobs: Sequence[Job]) -> list[ExecResult]:
        """Run programs in the shared sandbox (same order)."""
        if self.runner is not None:
            return self.runner(jobs)
        return self._engine().run(list(jobs), progress=self.progress)

    def _engine(self) -> SandboxEngine:
        if self._sandbox is None:
            from pgrpo.sandbox import open_sandbox

            self._sandbox = open_sandbox(self.sandbox_config or SandboxConfig())
        return self._sandbox

    def preflight(self) -> str:
        """Start the sandbox now; the isolation in use (IsolationError if weaker than the config demands)."""
        if self.runner is not None:
            return "runner"
        config = self.sandbox_config or SandboxConfig()
        engine = self._engine()
        check_isolation(config.isolation, engine.isolation, ", ".join(config.urls) or "this host")
        return engine.isolation

    def __call__(self, items: Sequence[tuple[Task, str]]) -> list[Verdict]:
        by_kind: dict[str, list[int]] = {}
        for i, (task, _) in enumerate(items):
            by_kind.setdefault(task.kind, []).append(i)
        out: list[Verdict | None] = [None] * len(items)
        for kind, where in by_kind.items():
            verdicts = task_type(kind).grade([items[i] for i in where], self.run_jobs, self.think_prefilled)
            for i, verdict in zip(where, verdicts, strict=True):
                out[i] = verdict
        return [v for v in out if v is not None]

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def verify(task: Task, response: str, *, sandbox_config: SandboxConfig | None = None,
           think_prefilled: bool = False) -> Verdict:
    """Judge one response (starts and stops a sandbox for code; batch with `Verifier` for throughput)."""
    with Verifier(sandbox_config, think_prefilled=think_prefilled) as verifier:
        return verifier([(task, response)])[0]
