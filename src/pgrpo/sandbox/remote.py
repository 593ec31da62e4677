"""The client of `pgrpo sandbox serve`: `RemoteSandbox`, a job runner with the local Sandbox's API.

    with RemoteSandbox(["http://10.0.0.5:8766", "http://10.0.0.6:8766"], token=...) as sb:
        results = sb.run([Job(problem, program), ...])   # same order, same verdicts as in-process

Owns load spreading (a batch is split into per-request chunks, sent concurrently; URL
rotation and retries are pgrpo.serving's, garbage replies retried too), timeouts (per
request: from the chunk size, the service's workers and the per-program limit, unless
`request_timeout_s` is set), and the checks that make a remote verdict trustworthy: each
service's /health is read once, and a service speaking another API version, running a weaker
isolation than the config demands, or with limits below the config's, is refused before any
job is sent; every result must be a coherent verdict (pgrpo.sandbox.wire.result_from_wire)
and there must be exactly one per job.
A service that keeps failing raises `RemoteSandboxError` naming the URL(s) - never a
silent R_o = 0 or 1. Unlike the local pool, `run` can raise; that fails the training step.

Does NOT protect against: a service that lies coherently (it is trusted to run the tests; use
a token and a private network), or eavesdropping (plain HTTP unless the URL is https).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pgrpo import serving
from pgrpo.data.schema import problem_to_dict
from pgrpo.errors import PgrpoError
from pgrpo.sandbox.types import (
    ISOLATION_STRENGTH,
    ExecResult,
    Job,
    SandboxConfig,
    check_isolation,
    job_limits,
)
from pgrpo.sandbox.wire import API_VERSION, RUN_PATH, TOKEN_ENV, Health, Limits, RunResponse, result_from_wire
from pgrpo.serving import HEALTH_PATH, Refused, Retryable


class RemoteSandboxError(PgrpoError):
    """A sandbox service failed (after the retries), refused the request, or returned garbage."""


class ServiceMismatch(RemoteSandboxError):
    """A reachable service that cannot honour this config (API version, limits): never retried."""


class RemoteSandbox:
    """Runs jobs on one or more sandbox services; a drop-in for `Sandbox` in a `Verifier`.

    config: the limits sent with every job and the isolation demanded (SandboxConfig; its `url`
    is ignored when `urls` is given). token: bearer token (default: env PGRPO_SANDBOX_TOKEN).
    """

    def __init__(self, urls: Sequence[str] | str, config: SandboxConfig | None = None, *, token: str | None = None,
                 timeout: float | None = None, retries: int | None = None, backoff_s: float = 0.5,
                 max_jobs_per_request: int = 256) -> None:
        self.config = config or SandboxConfig()
        self.urls = serving.parse_urls(urls, "sandbox.url")
        self.timeout = timeout if timeout is not None else (self.config.request_timeout_s or None)
        self.retries = self.config.retries if retries is None else retries
        self.backoff_s = backoff_s
        self.max_jobs_per_request = max_jobs_per_request
        self._limits = Limits(**job_limits(self.config))
        self._health: dict[str, Health] = {}
        self._rotation = serving.Rotation()
        import httpx

        self._http = httpx.Client(headers=serving.auth_headers(token, TOKEN_ENV),
                                  limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))

    @classmethod
    def from_config(cls, config: SandboxConfig) -> RemoteSandbox:
        return cls(config.urls, config)

    # ------------------------------------------------------------------ health
    def health(self, url: str) -> Health:
        """The service's /health (read once per URL), checked against this client's config."""
        known = self._health.get(url)
        if known is not None:
            return known
        try:
            reply = self._request("GET", url, HEALTH_PATH, None, timeout=30.0)
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
        for name, value in self._limits.model_dump().items():
            if value > getattr(health.limits, name):
                raise ServiceMismatch(f"sandbox.{name}: {value} exceeds the limit of the sandbox service {url} "
                                         f"({getattr(health.limits, name)}); lower it or restart the service "
                                         f"with --sandbox-{name.replace('_', '-')} {value}")
        self._health[url] = health
        return health

    @property
    def isolation(self) -> str:
        """The weakest isolation among the services (checks every URL's /health)."""
        modes = [self.health(u).isolation for u in self.urls]
        return min(modes, key=lambda m: ISOLATION_STRENGTH.get(m, -1))

    def _reachable(self) -> list[Health]:
        """Health of the services that answer (a down one is retried per request); an error if none does."""
        found, errors = [], []
        for url in self.urls:
            try:
                found.append(self.health(url))
            except ServiceMismatch:
                raise
            except RemoteSandboxError as exc:
                errors.append(str(exc))
        if not found:
            raise RemoteSandboxError("no sandbox service reachable: " + " | ".join(errors))
        return found

    # ------------------------------------------------------------------ run
    def run(self, jobs: Sequence[Job], progress: bool = False) -> list[ExecResult]:
        """Results in job order; RemoteSandboxError if a chunk fails on every URL tried."""
        if not jobs:
            return []
        per_request = min([self.max_jobs_per_request] + [h.max_jobs for h in self._reachable()])
        n_chunks = max(min(len(self.urls), len(jobs)), math.ceil(len(jobs) / per_request))
        size = math.ceil(len(jobs) / n_chunks)
        chunks = [list(jobs[i:i + size]) for i in range(0, len(jobs), size)]
        first = self._rotation.take(len(chunks))
        if len(chunks) == 1:
            return self._run_chunk(chunks[0], first)
        with ThreadPoolExecutor(max_workers=min(len(chunks), 16), thread_name_prefix="remote-sandbox") as ex:
            parts = list(ex.map(self._run_chunk, chunks, [first + i for i in range(len(chunks))]))
        return [r for part in parts for r in part]

    def _body(self, jobs: list[Job]) -> bytes:
        index: dict[int, int] = {}
        problems: list[dict] = []
        wire_jobs = []
        for job in jobs:
            k = index.get(id(job.problem))
            if k is None:
                k = index[id(job.problem)] = len(problems)
                problems.append(problem_to_dict(job.problem))
            wire_jobs.append({"problem": k, "program": job.program})
        request = {"version": API_VERSION, "problems": problems, "jobs": wire_jobs, "limits": self._limits.model_dump()}
        return json.dumps(request, separators=(",", ":")).encode()

    def _timeout(self, url: str, n_jobs: int) -> float:
        if self.timeout:
            return self.timeout
        workers = max(1, self.health(url).workers)
        # Generous: other ranks share the service's pool. It bounds a hung service, not slow jobs.
        return 60.0 + 4 * math.ceil(n_jobs / workers) * (self.config.timeout_per_program_s + 2)

    def _run_chunk(self, jobs: list[Job], start: int) -> list[ExecResult]:
        body = self._body(jobs)
        attempts = serving.Attempts(self.urls, start, self.retries, self.backoff_s)
        for url, delay in attempts:
            time.sleep(delay)
            try:
                reply = self._request("POST", url, RUN_PATH, body, timeout=self._timeout(url, len(jobs)))
                return self._results(reply, len(jobs))
            except Refused as exc:
                raise RemoteSandboxError(f"sandbox service {url} {exc}") from None
            except ServiceMismatch:
                raise
            except (Retryable, RemoteSandboxError) as exc:  # RemoteSandboxError: its /health unreadable
                attempts.failed(url, exc)
        raise RemoteSandboxError(f"sandbox service {attempts.summary()}")

    @staticmethod
    def _results(reply: bytes, n: int) -> list[ExecResult]:
        try:
            response = RunResponse.model_validate_json(reply)
            if len(response.results) != n:
                raise ValueError(f"{len(response.results)} results for {n} jobs")
            return [result_from_wire(r) for r in response.results]
        except ValueError as exc:
            raise Retryable(f"returned garbage, not verdicts: {str(exc)[:300]}") from None

    def _request(self, method: str, url: str, path: str, body: bytes | None, timeout: float) -> bytes:
        import httpx

        try:
            response = self._http.request(method, url + path, content=body, timeout=httpx.Timeout(timeout, connect=10.0),
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

