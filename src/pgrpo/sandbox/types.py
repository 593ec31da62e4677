"""Plain types of the sandbox API: jobs in, typed results out, and the sandbox's settings.

Owns: `Job`, `ExecResult`, `Status`, `SandboxConfig`. No execution happens here, so
everything else (rewards, evaluation, `pgrpo check`) can import these cheaply.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Any

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


def _limit(default: float | int | str, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SandboxConfig:
    """Sandbox limits: the one definition of their names, defaults and meaning (each field's help).

    The `sandbox:` section of a training recipe and the `--sandbox-*` flags of `pgrpo check`,
    `evaluate` and `bench build` (pgrpo.sandbox.cli_args) are both built from these fields.
    Defaults suit HumanEval/MBPP/LiveCodeBench on a small CPU box.
    """

    timeout_per_test_s: float = _limit(4.0, "wall-clock seconds for one test (one call, one stdin case, "
                                            "or the whole humaneval `check`)")
    timeout_per_program_s: float = _limit(30.0, "wall-clock seconds for all tests of one program together")
    memory_mb: int = _limit(4096, "address-space cap (RLIMIT_AS) in MiB of every process a program starts")
    output_limit_bytes: int = _limit(1 << 20, "stdout+stderr kept per test; more is output_exceeded")
    workers: int = _limit(0, "sandboxed worker processes run in parallel (0 = all CPUs)")
    isolation: str = _limit("auto", "auto (bwrap if usable, else unshare, else none, with one loud warning "
                                    "naming what is not isolated), or force bwrap / unshare / none")
    max_processes: int = _limit(64, "processes (incl. threads) one program may have at once")
    scratch_mb: int = _limit(64, "size in MiB of the per-job private tmpfs scratch directory")

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
