"""Running model-written programs for the LLM pipelines (LCB-RB builder, OD pairs).

Owns `ExecOutcome` and `sandbox_executor(config)`: turns (problem, program) items into
verdicts through `pgrpo.sandbox.Sandbox`. An empty program is a failure without running.
Pipelines take any `Executor` (same signature), so tests and the toy world can plug in an
exact oracle. Isolation guarantees are the sandbox's (see pgrpo.sandbox); nothing here runs code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pgrpo.data.problem import Problem


@dataclass(frozen=True)
class ExecOutcome:
    """`passed` iff every test passed; `status` is the sandbox Status value (or "no_code")."""

    passed: bool
    status: str
    detail: str = ""


Executor = Callable[[Sequence[tuple[Problem, str]]], list[ExecOutcome]]


def sandbox_executor(config=None, progress: bool = False) -> Executor:
    """An Executor backed by pgrpo.sandbox (config: SandboxConfig or None for defaults)."""

    def run(items: Sequence[tuple[Problem, str]]) -> list[ExecOutcome]:
        from pgrpo.sandbox import Job, Sandbox, SandboxConfig

        out: list[ExecOutcome | None] = [None] * len(items)
        jobs, where = [], []
        for i, (problem, program) in enumerate(items):
            if program.strip():
                jobs.append(Job(problem, program))
                where.append(i)
            else:
                out[i] = ExecOutcome(False, "no_code", "no code found in the response")
        if jobs:
            with Sandbox(config or SandboxConfig()) as sandbox:
                results = sandbox.run(jobs, progress=progress)
            for i, res in zip(where, results):
                out[i] = ExecOutcome(bool(res.passed), str(getattr(res.status, "value", res.status)), res.detail)
        return [o if o is not None else ExecOutcome(False, "sandbox_error", "no result") for o in out]

    return run
