"""Plain types of the sandbox API: `Job`, `ExecResult`, `Status`, isolation modes, `SandboxEngine`.

Standard library only (the worker imports it in the jail); `SandboxConfig` is in pgrpo.sandbox.settings.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pgrpo.data.problem import Problem
from pgrpo.errors import PgrpoError


class Status(str, enum.Enum):
    """Outcome of one program. Only PASSED means every test passed."""

    PASSED = "passed"
    FAILED = "failed"  # ran, but some test's answer was wrong
    TIMEOUT = "timeout"  # a per-test or per-program wall-clock limit hit
    RUNTIME_ERROR = "runtime_error"  # raised / crashed / exited before answering
    SYNTAX_ERROR = "syntax_error"  # the program does not compile
    MEMORY_EXCEEDED = "memory_exceeded"  # hit the memory cap
    OUTPUT_EXCEEDED = "output_exceeded"  # printed more than output_limit_bytes
    SANDBOX_ERROR = "sandbox_error"  # the sandbox itself failed (never counts as passed)


@dataclass(frozen=True)
class Job:
    """One program to run against `problem`'s tests.

    program: self-contained source. Function tasks: defines the entry point (and the
    class for LeetCode-style `class_name` tasks). Stdio tasks: the whole program.
    """

    problem: Problem
    program: str


@dataclass(frozen=True)
class ExecResult:
    """The verdict for one Job. `passed` is True iff every test passed."""

    passed: bool
    pass_fraction: float  # tests_passed / tests_total (0.0 when there are no tests)
    status: Status
    detail: str  # first failure, human readable ("" when passed)
    runtime_s: float  # wall-clock seconds spent on this job
    tests_passed: int
    tests_total: int


Isolation = Literal["auto", "bwrap", "unshare", "none"]
ISOLATION_MODES: tuple[str, ...] = typing.get_args(Isolation)
# Stronger is larger. "auto" demands at least "unshare": it never resolves to "none".
ISOLATION_STRENGTH = {"none": 0, "unshare": 1, "bwrap": 2}
# Fields that configure the pool or the client, not the per-program limits a job carries.
POOL_FIELDS = ("workers", "isolation")
CLIENT_FIELDS = ("url", "request_timeout_s", "retries")


class IsolationError(PgrpoError):
    """The isolation a config demands is not available (locally, or at a sandbox service)."""


def check_isolation(demanded: str, actual: str, where: str) -> None:
    """IsolationError if `actual` (the mode in use at `where`) is weaker than `demanded` asks for."""
    need = "unshare" if demanded == "auto" else demanded
    if ISOLATION_STRENGTH.get(actual, -1) < ISOLATION_STRENGTH[need]:
        raise IsolationError(
            f"sandbox.isolation: the config demands {demanded!r} (at least {need!r}) but {where} runs "
            f"isolation={actual!r}; run the sandbox where bubblewrap works (`pgrpo sandbox serve` on such a "
            f"host, then `sandbox.url`), or set `isolation: {actual}` explicitly to accept it")


class SandboxEngine(Protocol):
    """What runs jobs for a Verifier: the local pool (`Sandbox`) or a service client (`RemoteSandbox`)."""

    @property
    def isolation(self) -> str: ...

    def run(self, jobs: Sequence[Job], progress: bool = False) -> list[ExecResult]: ...

    def close(self) -> None: ...
