"""Plain types of the sandbox API: jobs in, typed results out, and the sandbox's settings.

Owns: `Job`, `ExecResult`, `Status`, `SandboxConfig`. No execution happens here, so
everything else (rewards, evaluation, `pgrpo check`) can import these cheaply.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from pgrpo.data.problem import Problem


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

    @classmethod
    def failure(cls, status: Status, detail: str, tests_total: int, runtime_s: float = 0.0,
                tests_passed: int = 0) -> ExecResult:
        frac = tests_passed / tests_total if tests_total else 0.0
        return cls(False, frac, status, detail, runtime_s, tests_passed, tests_total)


ISOLATION_MODES = ("auto", "bwrap", "unshare", "none")


@dataclass(frozen=True)
class SandboxConfig:
    """Sandbox limits. Defaults suit HumanEval/MBPP/LiveCodeBench on a small CPU box.

    timeout_per_test_s: wall-clock limit for one test (one call, one stdin case, or the
        whole humaneval `check`). Default 4 s.
    timeout_per_program_s: wall-clock cap for all tests of one program together.
        Default 30 s.
    memory_mb: address-space cap (RLIMIT_AS) of every process a program starts;
        default 4096 (4 GiB), the documented maximum default.
    output_limit_bytes: stdout+stderr kept per test; more is output_exceeded. 1 MiB.
    workers: sandboxed worker processes run in parallel (default: all CPUs).
    isolation: "auto" (bwrap if usable, else unshare, else none, with one loud
        warning naming what is not isolated), or force "bwrap" / "unshare" / "none".
    max_processes: processes (incl. threads) one program may have at once.
    scratch_mb: size of the per-job private tmpfs scratch directory.
    """

    timeout_per_test_s: float = 4.0
    timeout_per_program_s: float = 30.0
    memory_mb: int = 4096
    output_limit_bytes: int = 1 << 20
    workers: int = 0  # 0 = os.cpu_count()
    isolation: str = "auto"
    max_processes: int = 64
    scratch_mb: int = 64

    def __post_init__(self) -> None:
        from pgrpo.config import ConfigError

        if self.isolation not in ISOLATION_MODES:
            raise ConfigError(f"sandbox.isolation: {self.isolation!r} is not one of {', '.join(ISOLATION_MODES)}")
        for key in ("timeout_per_test_s", "timeout_per_program_s", "memory_mb", "output_limit_bytes",
                    "max_processes", "scratch_mb"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"sandbox.{key}: must be > 0, got {getattr(self, key)!r}")
        if self.workers < 0:
            raise ConfigError(f"sandbox.workers: must be >= 0, got {self.workers!r}")
        if self.workers == 0:
            object.__setattr__(self, "workers", os.cpu_count() or 1)
