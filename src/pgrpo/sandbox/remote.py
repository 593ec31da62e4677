"""`RemoteSandbox`: the client of `pgrpo sandbox serve`, with the local Sandbox's API.

Owns chunking (within the services' max_jobs and max_body_bytes; a chunk refused with 413 is halved),
request timeouts (`run_worst_case` bounds `run` for `pgrpo train`), and the checks that make a remote
verdict trustworthy: API version, isolation and limits at /health before any job is sent, isolation
again on every reply, one coherent verdict per job (wire.check_verdict). A failing service raises
`RemoteSandboxError` naming the URL, never a silent R_o. Does NOT protect against: a service that lies
coherently (it is trusted; use a token and a private network), or eavesdropping (plain HTTP unless the
URL is https).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pgrpo import serving
from pgrpo.data.schema import problem_to_dict
from pgrpo.errors import PgrpoError
from pgrpo.sandbox.kinds import effective_limits, job_limits, serve_command
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ISOLATION_STRENGTH, ExecResult, IsolationError, Job, check_isolation
from pgrpo.sandbox.wire import API_VERSION, RUN_PATH, TOKEN_ENV, Health, Limits, RunResponse, check_verdict
from pgrpo.serving import HEALTH_PATH, Attempts, Refused, Retryable, WorstCase

CONNECT_TIMEOUT_S = 10.0  # to open a connection to a service
HEALTH_TIMEOUT_S = 30.0  # for its /health reply
BACKOFF_S = 0.5  # before the first retry (then doubling, pgrpo.serving.Attempts)
MAX_JOBS_PER_REQUEST = 256  # unless the service's /health says fewer
PARALLEL_REQUESTS = 16  # chunks of one batch in flight at once


class RemoteSandboxError(PgrpoError):
    """A sandbox service failed (after the retries), refused the request, or returned garbage."""


class ServiceMismatch(RemoteSandboxError):
    """A reachable service that cannot honour this config (API version, limits): never retried."""


class RemoteSandbox:
    """Runs jobs on sandbox services; a drop-in for `Sandbox`. `config`: the limits sent and the isolation
    demanded (its `url` is ignored). token: bearer token (default: env PGRPO_SANDBOX_TOKEN)."""

    def __init__(self, urls: Sequence[str] | str, config: SandboxConfig | None = None, *, token: str | None = None,
                 retries: int | None = None, backoff_s: float = BACKOFF_S) -> None:
        self.config = config or SandboxConfig()
        self.urls = serving.parse_urls(urls, "sandbox.url")
        self.retries = self.config.retries if retries is None else retries
        self.backoff_s = backoff_s
        self._health: dict[str, Health] = {}
        self._rotation = serving.Rotation()
        import httpx

        self._http = httpx.Client(headers=serving.auth_headers(token, TOKEN_ENV),
                                  limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))

    # ------------------------------------------------------------------ health
    def health(self, url: str) -> Health:
        """The service's /health (read once per URL), checked against this client's config."""
        known = self._health.get(url)
        if known is not None:
            return known
        try:
            reply = self._request("GET", url, HEALTH_PATH, None, timeout=HEALTH_TIMEOUT_S)
        except (Refused, Retryable) as exc:
            raise RemoteSandboxError(f"sandbox service {url}: {exc}") from None
        try:
            health = Health.model_validate_json(reply)
        except ValueError as exc:
            raise RemoteSandboxError(f"sandbox service {url}: /health is not a pgrpo sandbox service: {exc}") from None
        if health.api_version != API_VERSION:
            raise ServiceMismatch(f"sandbox service {url}: speaks API version {health.api_version}, "
                                     f"this client {API_VERSION}")
        check_isolation(self.config.isolation, health.isolation, f"the sandbox service {url}")
        _check_allowed(url, health, Limits(**job_limits(self.config)))
        self._health[url] = health
        return health

    @property
    def isolation(self) -> str:
        """The weakest isolation among the services (checks every URL's /health)."""
        modes = [self.health(u).isolation for u in self.urls]
        return min(modes, key=lambda m: ISOLATION_STRENGTH.get(m, -1))

    # ------------------------------------------------------------------ run
    def run(self, jobs: Sequence[Job], progress: bool = False) -> list[ExecResult]:
        """Results in job order; RemoteSandboxError if a chunk fails on every URL tried. Each job is sent
        with its test kind's `effective_limits` under this config (the rule a local pool applies)."""
        groups: dict[tuple[tuple[str, Any], ...], list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(tuple(effective_limits(self.config, job.problem.tests.kind).items()), []).append(i)
        results: list[ExecResult | None] = [None] * len(jobs)
        base = job_limits(self.config)
        for limits, where in groups.items():
            kind = jobs[where[0]].problem.tests.kind
            hint = "" if dict(limits) == base else (
                f" - the {kind.value!r} test kind's own limits, not a value you set: start the service with "
                f"`{serve_command(kind)}`, or set lower limits explicitly (--sandbox-timeout-per-program-s, "
                f"--sandbox-memory-mb)")
            part = self._run_limited([jobs[i] for i in where], Limits(**dict(limits)), hint)
            for i, result in zip(where, part, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def _run_limited(self, jobs: Sequence[Job], limits: Limits, hint: str) -> list[ExecResult]:
        healths, errors = [], []  # the services that answer (a down one is retried per request)
        for url in self.urls:
            try:
                healths.append(self.health(url))
            except ServiceMismatch:
                raise
            except RemoteSandboxError as exc:
                errors.append(str(exc))
        if not healths:
            raise RemoteSandboxError("no sandbox service reachable: " + " | ".join(errors))
        per_request = min([MAX_JOBS_PER_REQUEST] + [h.max_jobs for h in healths])
        max_body = min(h.max_body_bytes for h in healths)
        n_chunks = max(min(len(self.urls), len(jobs)), math.ceil(len(jobs) / per_request))
        size = math.ceil(len(jobs) / n_chunks)
        encoded = _Encoded(limits, hint)
        chunks = [part for i in range(0, len(jobs), size)
                  for part in encoded.fit(list(jobs[i:i + size]), max_body)]
        first = self._rotation.take(len(chunks))
        if len(chunks) == 1:
            return self._run_chunk(chunks[0], first, encoded)
        with ThreadPoolExecutor(max_workers=min(len(chunks), PARALLEL_REQUESTS),
                                thread_name_prefix="remote-sandbox") as ex:
            parts = list(ex.map(self._run_chunk, chunks, [first + i for i in range(len(chunks))],
                                [encoded] * len(chunks)))
        return [r for part in parts for r in part]

    def _run_chunk(self, jobs: list[Job], start: int, encoded: _Encoded) -> list[ExecResult]:
        body = encoded.body(jobs)
        attempts = serving.Attempts(self.urls, start, self.retries, self.backoff_s)
        for url, delay in attempts:
            time.sleep(delay)
            try:
                _check_allowed(url, self.health(url), encoded.limits, encoded.hint)  # before sending it a job
                timeout = self.config.request_timeout_s or auto_request_timeout_s(
                    encoded.limits.timeout_per_program_s, len(jobs), self.health(url).workers)
                reply = self._request("POST", url, RUN_PATH, body, timeout=timeout)
                return self._results(url, reply, len(jobs))
            except Refused as exc:
                if exc.status == 413:  # this service takes less than its /health said (restarted?): halve
                    if len(jobs) == 1:
                        raise _too_large(jobs[0], len(body), f"{url} (HTTP 413)") from None
                    half = len(jobs) // 2
                    return (self._run_chunk(jobs[:half], start, encoded)
                            + self._run_chunk(jobs[half:], start + 1, encoded))
                raise RemoteSandboxError(f"sandbox service {url} {exc}") from None
            except ServiceMismatch:
                raise
            except (Retryable, RemoteSandboxError) as exc:  # RemoteSandboxError: its /health unreadable
                attempts.failed(url, exc)
        raise RemoteSandboxError(f"sandbox service {attempts.summary()}")

    def _results(self, url: str, reply: bytes, n: int) -> list[ExecResult]:
        try:
            response = RunResponse.model_validate_json(reply)
            if len(response.results) != n:
                raise ValueError(f"{len(response.results)} results for {n} jobs")
            for result in response.results:
                check_verdict(result)
        except ValueError as exc:
            raise Retryable(f"returned garbage, not verdicts: {str(exc)[:300]}") from None
        # Checked on every reply, not only at /health: a service restarted with weaker isolation is refused.
        try:
            check_isolation(self.config.isolation, response.isolation, f"the sandbox service {url}")
        except IsolationError:
            self._health.pop(url, None)
            raise
        return response.results

    def _request(self, method: str, url: str, path: str, body: bytes | None, timeout: float) -> bytes:
        import httpx

        try:
            response = self._http.request(method, url + path, content=body, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
                                          headers={"Content-Type": "application/json"} if body is not None else None)
        except httpx.HTTPError as exc:
            raise serving.transport_failure(exc, timeout) from None
        return serving.reply_body(response, TOKEN_ENV)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def _check_allowed(url: str, health: Health, limits: Limits, hint: str = "") -> None:
    """ServiceMismatch if the service at `url` does not allow `limits` (`hint`: whose limits they are)."""
    for name, value in limits.model_dump().items():
        if value > getattr(health.limits, name):
            raise ServiceMismatch(f"sandbox.{name}: {value} exceeds the limit of the sandbox service {url} "
                                  f"({getattr(health.limits, name)}); lower it or restart the service "
                                  f"with --sandbox-{name.replace('_', '-')} {value}{hint}")


def auto_request_timeout_s(per_program_s: float, n_jobs: int, workers: int) -> float:
    """A request's timeout when `request_timeout_s` is 0: from its jobs, the service's workers and the
    per-program limit. Generous (other ranks share the service's pool): it bounds a hung service, not slow jobs."""
    return 60.0 + 4 * math.ceil(n_jobs / max(1, workers)) * (per_program_s + 2)


def run_worst_case(config: SandboxConfig, n_jobs: int, service_workers: int | None = None,
                   service_max_jobs: int = MAX_JOBS_PER_REQUEST, per_program_s: float | None = None) -> WorstCase:
    """The longest `RemoteSandbox(config.urls, config).run` of `n_jobs` can take when every attempt fails:
    the /health reads, then the chunks `PARALLEL_REQUESTS` at a time, each with its retries (plus a
    /health read when the timeout is sized from it; chunks split for max_body_bytes are not counted).
    `service_workers` (the fewest among the services) is needed when `request_timeout_s` is 0;
    `per_program_s`: the jobs' longest per-program limit (default the config's)."""
    n_urls = len(config.urls)
    per_request = max(1, min(MAX_JOBS_PER_REQUEST, service_max_jobs))
    n_chunks = max(min(n_urls, n_jobs), math.ceil(n_jobs / per_request), 1)
    size = math.ceil(n_jobs / n_chunks)
    rounds = math.ceil(n_chunks / PARALLEL_REQUESTS)
    health_s = CONNECT_TIMEOUT_S + HEALTH_TIMEOUT_S
    if config.request_timeout_s:
        timeout, sized = config.request_timeout_s, "sandbox.request_timeout_s"
        attempt_s = CONNECT_TIMEOUT_S + timeout
    else:
        if service_workers is None:
            raise ValueError("run_worst_case: sandbox.request_timeout_s is 0, so the service's workers are needed")
        timeout = auto_request_timeout_s(per_program_s or config.timeout_per_program_s, size, service_workers)
        sized = f"from {size} jobs on {service_workers} service workers"
        attempt_s = health_s + CONNECT_TIMEOUT_S + timeout
    per_chunk = Attempts.worst_case_s(config.retries, BACKOFF_S, attempt_s)
    total = n_urls * health_s + rounds * per_chunk
    return WorstCase(total, f"{n_chunks} request(s) of <= {size} jobs: {rounds} round(s) x {config.retries + 1} "
                            f"attempts x {attempt_s:g} s (timeout {timeout:g} s, {sized}) + backoff, after "
                            f"{n_urls} /health read(s) <= {health_s:g} s = {total:.1f} s")


class _Encoded:
    """Request bodies of one batch, each problem serialized once."""

    def __init__(self, limits: Limits, hint: str = "") -> None:
        self.limits, self.hint = limits, hint
        self._problems: dict[int, bytes] = {}
        self._limits = json.dumps(limits.model_dump(), separators=(",", ":")).encode()

    def body(self, jobs: Sequence[Job]) -> bytes:
        """`{"version":..,"problems":[...],"jobs":[...],"limits":{..}}`: each distinct problem once."""
        index: dict[int, int] = {}
        wire_jobs: list[bytes] = []
        for job in jobs:
            key = id(job.problem)
            if key not in self._problems:
                self._problems[key] = json.dumps(problem_to_dict(job.problem), separators=(",", ":")).encode()
            k = index.setdefault(key, len(index))
            wire_jobs.append(b'{"problem":%d,"program":%s}' % (k, json.dumps(job.program).encode()))
        problems = b",".join(self._problems[key] for key in index)
        return b'{"version":%d,"problems":[%s],"jobs":[%s],"limits":%s}' % (
            API_VERSION, problems, b",".join(wire_jobs), self._limits)

    def fit(self, jobs: list[Job], max_body: int) -> list[list[Job]]:
        """`jobs` halved (in order) until each part's body fits `max_body`; RemoteSandboxError naming the
        task if one job alone does not."""
        size = len(self.body(jobs))
        if size <= max_body:
            return [jobs]
        if len(jobs) == 1:
            raise _too_large(jobs[0], size, f"the sandbox service (max_body_bytes={max_body})")
        half = len(jobs) // 2
        return self.fit(jobs[:half], max_body) + self.fit(jobs[half:], max_body)


def _too_large(job: Job, size: int, where: str) -> RemoteSandboxError:
    return RemoteSandboxError(f"sandbox job for task {job.problem.task_id!r}: its request is {size} bytes, more "
                              f"than {where} accepts; restart the service with a larger --max-body-mb, or "
                              f"run it locally")
