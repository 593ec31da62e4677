"""Plain types of the sandbox API: jobs in, typed results out, and the sandbox's settings.

Owns: `Job`, `ExecResult`, `Status`, `SandboxConfig`. No execution happens here, so
everything else (rewards, evaluation, `pgrpo check`) can import these cheaply.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

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

    @classmethod
    def failure(cls, status: Status, detail: str, tests_total: int, runtime_s: float = 0.0,
                tests_passed: int = 0) -> ExecResult:
        frac = tests_passed / tests_total if tests_total else 0.0
        return cls(False, frac, status, detail, runtime_s, tests_passed, tests_total)


ISOLATION_MODES = ("auto", "bwrap", "unshare", "none")
# Stronger is larger. "auto" demands at least "unshare": it never resolves to "none".
ISOLATION_STRENGTH = {"none": 0, "unshare": 1, "bwrap": 2}
# Fields that configure the pool or the client, not the per-program limits a job carries.
POOL_FIELDS = ("workers", "isolation")
CLIENT_FIELDS = ("url", "request_timeout_s", "retries")


class IsolationError(PgrpoError):
    """The isolation a config demands is not available (locally, or at a sandbox service)."""


def demanded_isolation(mode: str) -> str:
    """The weakest resolved mode `mode` accepts: itself, or "unshare" for "auto"."""
    return "unshare" if mode == "auto" else mode


def check_isolation(demanded: str, actual: str, where: str) -> None:
    """IsolationError if `actual` (the mode in use at `where`) is weaker than `demanded` asks for."""
    need = demanded_isolation(demanded)
    if ISOLATION_STRENGTH.get(actual, -1) < ISOLATION_STRENGTH[need]:
        raise IsolationError(
            f"sandbox.isolation: the config demands {demanded!r} (at least {need!r}) but {where} runs "
            f"isolation={actual!r}; run the sandbox where bubblewrap works (`pgrpo sandbox serve` on such a "
            f"host, then `sandbox.url`), or set `isolation: {actual}` explicitly to accept it")


def _limit(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SandboxConfig:
    """Sandbox limits: the one definition of their names, defaults and meaning (each field's help).

    The `sandbox:` section of a training recipe and the `--sandbox-*` flags of `pgrpo check`,
    `evaluate` and `bench build` (pgrpo.sandbox.cli_args) are both built from these fields.
    Defaults suit HumanEval/MBPP/LiveCodeBench on a small CPU box. With `url`, jobs go to
    `pgrpo sandbox serve` services instead of a local pool (pgrpo.sandbox.remote); the limits
    travel with every request and must not exceed the service's own.
    """

    timeout_per_test_s: float = _limit(4.0, "wall-clock seconds for one test (one call, one stdin case, "
                                            "or the whole humaneval `check`)")
    timeout_per_program_s: float = _limit(30.0, "wall-clock seconds for all tests of one program together "
                                                "(CPU time is capped too: RLIMIT_CPU = this + 2 s)")
    memory_mb: int = _limit(4096, "address-space cap (RLIMIT_AS) in MiB of every process a program starts")
    output_limit_bytes: int = _limit(1 << 20, "stdout+stderr kept per test; more is output_exceeded")
    workers: int = _limit(0, "sandboxed worker processes run in parallel (0 = the CPUs this process may use - "
                             "affinity and cgroup quota - divided by the ranks on this node (LOCAL_WORLD_SIZE, or "
                             "MPI's / Slurm's per-node count), at least 1)")
    isolation: str = _limit("auto", "auto (bwrap if usable, else unshare; never none: an error if neither works), "
                                    "or demand bwrap / unshare, or accept none explicitly")
    max_processes: int = _limit(64, "processes (incl. threads) one program may have at once")
    scratch_mb: int = _limit(64, "size in MiB of the per-job private tmpfs scratch directory")
    url: str | tuple[str, ...] = _limit((), "`pgrpo sandbox serve` URL(s) to send jobs to instead of a local pool "
                                            "(token: env PGRPO_SANDBOX_TOKEN)")
    request_timeout_s: float = _limit(0.0, "seconds a sandbox service may take for one request "
                                           "(0 = from the batch size, the service's workers and the limits)")
    retries: int = _limit(3, "retries (with backoff, on the next URL) of a failed sandbox-service request")
    # The fields given explicitly (flags, `SandboxConfig.given`): a test kind's own limits
    # (pgrpo.sandbox.kinds) never replace those. Not a field (no flag, no recipe key, not serialized,
    # not compared); dataclasses.replace() resets it.
    explicit: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def given(cls, **values: Any) -> SandboxConfig:
        """A config of `values`, recording them as set explicitly."""
        config = cls(**values)
        object.__setattr__(config, "explicit", frozenset(values))
        return config

    def __post_init__(self) -> None:
        from pgrpo.config import ConfigError
        from pgrpo.sandbox.resources import default_workers
        from pgrpo.serving import parse_urls

        if self.isolation not in ISOLATION_MODES:
            raise ConfigError(f"sandbox.isolation: {self.isolation!r} is not one of {', '.join(ISOLATION_MODES)}")
        for key in ("timeout_per_test_s", "timeout_per_program_s", "memory_mb", "output_limit_bytes",
                    "max_processes", "scratch_mb"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"sandbox.{key}: must be > 0, got {getattr(self, key)!r}")
        for key in ("workers", "request_timeout_s", "retries"):
            if getattr(self, key) < 0:
                raise ConfigError(f"sandbox.{key}: must be >= 0, got {getattr(self, key)!r}")
        if self.workers == 0:
            object.__setattr__(self, "workers", default_workers())
        empty = not self.url.replace(",", " ").strip() if isinstance(self.url, str) else not self.url
        object.__setattr__(self, "url", () if empty else parse_urls(self.url, "sandbox.url"))

    @property
    def urls(self) -> tuple[str, ...]:
        """The sandbox-service URLs (empty: run jobs in a local pool)."""
        return self.url if isinstance(self.url, tuple) else (self.url,)


class SandboxEngine(Protocol):
    """What runs jobs for a Verifier: the local pool (`Sandbox`) or a service client (`RemoteSandbox`)."""

    @property
    def isolation(self) -> str: ...

    def run(self, jobs: Sequence[Job], progress: bool = False) -> list[ExecResult]: ...

    def close(self) -> None: ...
