"""The sandbox service's JSON API, version 1: pydantic models shared by service.py and remote.py.

    POST /v1/run    RunRequest  -> RunResponse   (one result per job, same order)
    GET  /health                -> Health        (API version, isolation in use, config, bounds)

A request lists each distinct problem once (pgrpo's own problem format,
`pgrpo.data.schema.problem_to_dict`) and jobs that point at them by index, so a GRPO group's
G programs do not carry G copies of the tests. `limits` are the client's per-program limits
(SandboxConfig's job-limit fields); a service refuses limits above its own. Unknown keys are
refused everywhere (a typo must not silently change a limit). `result_from_wire` is the
client's check that a result is a coherent verdict: anything else is garbage, never a pass.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from pgrpo.sandbox.types import ExecResult, Status
from pgrpo.serving import HEALTH_PATH as HEALTH_PATH  # re-exported: every path of the API is here
from pgrpo.serving import StrictModel

API_VERSION = 1
RUN_PATH = "/v1/run"
TOKEN_ENV = "PGRPO_SANDBOX_TOKEN"
# The service's defaults (`pgrpo sandbox serve` flags); here so the CLI reads them without fastapi.
DEFAULT_PORT = 8766
DEFAULT_MAX_JOBS = 1024
DEFAULT_MAX_BODY_BYTES = 64 << 20


class Limits(StrictModel):
    """Per-program limits for this request (SandboxConfig's fields of the same names)."""

    timeout_per_test_s: float = Field(gt=0)
    timeout_per_program_s: float = Field(gt=0)
    memory_mb: int = Field(gt=0)
    output_limit_bytes: int = Field(gt=0)
    max_processes: int = Field(gt=0)
    scratch_mb: int = Field(gt=0)


class JobWire(StrictModel):
    problem: int = Field(ge=0, description="index into the request's `problems`")
    program: str


class RunRequest(StrictModel):
    version: int = API_VERSION
    problems: list[dict[str, Any]] = Field(description="distinct problems, pgrpo's problem format")
    jobs: list[JobWire]
    limits: Limits | None = None


class ResultWire(StrictModel):
    passed: bool
    pass_fraction: float
    status: Status
    detail: str
    runtime_s: float
    tests_passed: int
    tests_total: int


class RunResponse(StrictModel):
    version: int = API_VERSION
    isolation: str
    results: list[ResultWire]


class Health(StrictModel):
    status: str = "ok"
    api_version: int = API_VERSION
    pgrpo_version: str
    isolation: str
    workers: int
    limits: Limits  # the most a request may ask for
    max_jobs: int
    max_body_bytes: int


def result_to_wire(r: ExecResult) -> ResultWire:
    return ResultWire(passed=r.passed, pass_fraction=r.pass_fraction, status=r.status, detail=r.detail,
                      runtime_s=r.runtime_s, tests_passed=r.tests_passed, tests_total=r.tests_total)


def result_from_wire(w: ResultWire) -> ExecResult:
    """The ExecResult of a received result; ValueError if it is not a coherent verdict
    (passed without status "passed", counts out of range, a fraction that does not match)."""
    if w.passed != (w.status is Status.PASSED):
        raise ValueError(f"passed={w.passed} contradicts status={w.status.value!r}")
    if not 0 <= w.tests_passed <= w.tests_total and not (w.tests_total == 0 and w.tests_passed == 0):
        raise ValueError(f"tests_passed={w.tests_passed} outside 0..tests_total={w.tests_total}")
    if w.passed and w.tests_passed != w.tests_total:
        raise ValueError(f"passed with only {w.tests_passed}/{w.tests_total} tests passed")
    expected = w.tests_passed / w.tests_total if w.tests_total else 0.0
    if not math.isclose(w.pass_fraction, expected, abs_tol=1e-9):
        raise ValueError(f"pass_fraction={w.pass_fraction} is not {w.tests_passed}/{w.tests_total}")
    if not math.isfinite(w.runtime_s) or w.runtime_s < 0:
        raise ValueError(f"runtime_s={w.runtime_s} is not a duration")
    return ExecResult(w.passed, w.pass_fraction, w.status, w.detail, w.runtime_s, w.tests_passed, w.tests_total)
