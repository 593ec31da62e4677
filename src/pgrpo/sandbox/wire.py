"""The sandbox service's JSON API, version 1 (POST /v1/run, GET /health): shared by service.py and remote.py.

A request lists each distinct problem once and jobs point at them by index; unknown keys are
refused everywhere. `check_verdict` is the client's test that a result is a coherent verdict.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from pgrpo.sandbox.types import ExecResult, Status
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


class RunResponse(StrictModel):
    version: int = API_VERSION
    isolation: str
    results: list[ExecResult]  # validated as the dataclass, unknown keys refused


class Health(StrictModel):
    status: str = "ok"
    api_version: int = API_VERSION
    pgrpo_version: str
    isolation: str
    workers: int
    limits: Limits  # the most a request may ask for
    max_jobs: int
    max_body_bytes: int


def check_verdict(w: ExecResult) -> None:
    """ValueError if a received result is not a coherent verdict (passed without status "passed",
    counts out of range, a fraction that does not match)."""
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
