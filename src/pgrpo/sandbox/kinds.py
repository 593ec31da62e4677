"""One spec per test kind (`SPECS`): the `Tests` fields it holds and sends, its harness, its limits.

`effective_limits` is the ONE rule for a job's per-program limits, used by the local pool, the
service client and (as sent) `pgrpo sandbox serve`: a limit set explicitly (a flag,
`SandboxConfig.given`) or changed from its default is kept; a kind's own limits (BigCodeBench's
for "unittest") replace every other, also a default a recipe writes out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgrpo.data.problem import Problem, TestKind
from pgrpo.sandbox import codec
from pgrpo.sandbox.harness import run_call, run_code_tests, run_stdio, run_unittest
from pgrpo.sandbox.session import Spawner
from pgrpo.sandbox.testrun import JobSpec, JobVerdict
from pgrpo.sandbox.types import CLIENT_FIELDS, POOL_FIELDS

if TYPE_CHECKING:  # the worker imports this module inside the jail: standard library only at run time
    from pgrpo.sandbox.settings import SandboxConfig

@dataclass(frozen=True)
class KindLimits:
    """A test kind's own per-program limits (its benchmark's), in place of SandboxConfig's defaults."""

    timeout_s: float  # the whole suite of one task: per test and per program
    memory_mb: int  # RLIMIT_AS; a local pool caps it at the memory available per worker (pool.py)
    scratch_mb: int

    def fields(self) -> dict[str, float]:
        """As SandboxConfig's fields (and `--sandbox-*` flags)."""
        return {"timeout_per_test_s": self.timeout_s, "timeout_per_program_s": self.timeout_s,
                "memory_mb": self.memory_mb, "scratch_mb": self.scratch_mb}


@dataclass(frozen=True)
class KindSpec:
    """One test kind: the `Tests` fields it reads, how they travel to the worker, its harness, its limits."""

    kind: TestKind
    holds: tuple[str, ...]  # the `Tests` fields a problem of this kind fills
    # (problem, canonical outputs of an outputs_from_canonical problem or None, collect) -> JobSpec fields
    fields: Callable[[Problem, list[Any] | None, bool], dict[str, Any]]
    harness: Callable[[JobSpec, Spawner], JobVerdict]
    limits: KindLimits | None = None
    # The tests run inside the program's process (BigCodeBench's unittest): the answer runs as
    # written, without programs.PRELUDE_IMPORTS (one that forgets an import fails, as in the
    # benchmark), and a policy could learn to forge the verdict (training needs data.allow_unittest).
    in_process: bool = False


def _code_tests(p: Problem, expected: list[Any] | None, collect: bool) -> dict[str, Any]:
    return {"test_code": p.tests.test_code, "setup_code": p.tests.setup_code, "starter_code": p.starter_code}


def _asserts(p: Problem, expected: list[Any] | None, collect: bool) -> dict[str, Any]:
    return {"asserts": list(p.tests.asserts), "setup_code": p.tests.setup_code}


def _call(p: Problem, expected: list[Any] | None, collect: bool) -> dict[str, Any]:
    cases = p.tests.call_cases
    if p.tests.outputs_from_canonical:  # no canonical outputs (its run failed): every case fails closed
        expected = expected or [None] * len(cases)
    return {"cases": [[codec.to_wire(tuple(c.inputs)),
                       None if collect else (expected[i] if expected is not None else codec.to_wire(c.output))]
                      for i, c in enumerate(cases)]}


def _stdio(p: Problem, expected: list[Any] | None, collect: bool) -> dict[str, Any]:
    return {"stdio": [[c.stdin, c.stdout] for c in p.tests.stdio_cases]}


# BigCodeBench 0.2.5 (bigcodebench/eval/utils.py, evaluate.py): TIMEOUT_LIMIT = 240 s for the
# whole suite (+1 s margin, `untrusted_check`), max_as_limit = 30*1024 MiB; tasks write files
# (CSV, images, archives) into their cwd.
BIGCODEBENCH_LIMITS = KindLimits(240.0 + 1.0, 30 * 1024, 256)

SPECS: dict[TestKind, KindSpec] = {spec.kind: spec for spec in (
    KindSpec(TestKind.HUMANEVAL, ("test_code", "setup_code"), _code_tests, run_code_tests),
    KindSpec(TestKind.ASSERTS, ("asserts", "setup_code"), _asserts, run_code_tests),
    KindSpec(TestKind.CALL, ("call_cases", "class_name", "atol", "outputs_from_canonical"), _call, run_call),
    KindSpec(TestKind.STDIO, ("stdio_cases",), _stdio, run_stdio),
    KindSpec(TestKind.UNITTEST, ("test_code",), _code_tests, run_unittest, BIGCODEBENCH_LIMITS, in_process=True),
)}


def run_job(spec: JobSpec, spawner: Spawner) -> JobVerdict:
    """Run one job's tests (in the worker), its programs started by `spawner`. Never raises for a bad program."""
    return SPECS[TestKind(spec.kind)].harness(spec, spawner)


def job_limits(config: SandboxConfig) -> dict[str, Any]:
    """The per-program limits every job carries (harness.JobSpec's): all but the pool and client fields."""
    skip = set(POOL_FIELDS) | set(CLIENT_FIELDS)
    return {name: getattr(config, name) for name in type(config).model_fields if name not in skip}


@functools.cache
def _defaults() -> dict[str, Any]:
    from pgrpo.sandbox.settings import SandboxConfig

    return job_limits(SandboxConfig())


def serve_command(kind: TestKind) -> str:
    """The `pgrpo sandbox serve` command of a service that allows `kind`'s own limits."""
    own = SPECS[kind].limits
    fields = own.fields() if own else {}
    flags = [f"--sandbox-{name.replace('_', '-')} {value:g}" for name, value in fields.items()]
    return " ".join(["pgrpo sandbox serve", *flags])


def effective_limits(config: SandboxConfig, kind: TestKind) -> dict[str, Any]:
    """The per-program limits of a job of test kind `kind` under `config` (the module docstring's rule)."""
    limits = job_limits(config)
    own = SPECS[kind].limits
    if own is None:
        return limits
    return {**limits, **{name: value for name, value in own.fields().items()
                         if name not in config.explicit and limits[name] == _defaults()[name]}}
