"""`pgrpo sandbox serve`: the sandbox engine behind a small HTTP API (FastAPI + uvicorn).

Owns `create_app` (the routes of pgrpo.sandbox.wire's API over ONE `Sandbox` pool shared by
every request, so one service per node serves all its local ranks), `serve` (the blocking
server of the CLI) and `BackgroundService` (the same server in a thread: tests, benchmarks).
Trainer containers where namespaces are blocked send programs here, to a host where
bubblewrap works; verdicts are the in-process engine's (same code, same limits: the client
computes each job's limits with `pgrpo.sandbox.kinds.effective_limits`, as a local pool does, and
they travel with each request, which runs them as sent and may not exceed the service's own).

Guards (pgrpo.serving's): 127.0.0.1 unless a shared token is set (`--token` or env
PGRPO_SANDBOX_TOKEN; every route 401 without it), and without a token only a loopback `Host`
(400: DNS rebinding); a request head within a few seconds and connections per peer capped
(serving.guard); bodies capped (413); a malformed request gets a 4xx naming the field. Here
also: jobs per request are capped; an error in one request never stops the service. Fairness:
jobs enter the pool one at a time, at most PIPELINE_DEPTH per worker at once, the next slot
going to the next client in turn (serving.fair.FairShare; a client is its peer address), so one
client's backlog delays another's job by about one job, not by the backlog. /health and the
token check run on the event loop, never behind the pool's threads.

Does NOT protect against: an attacker who holds the token (they can run arbitrary programs in
the sandbox - exactly as contained as a local sandbox, see pgrpo.sandbox - and use its CPU);
eavesdropping or tampering on the network (plain HTTP: no TLS; put it behind a TLS proxy or
keep it on a private network); a flood from many addresses (no rate limits; clients behind one
address share one turn); a token leaked through the command line (`--token` is visible in
`ps`; prefer the env var).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

import pgrpo
from pgrpo import serving
from pgrpo.data.problem import TestKind
from pgrpo.data.schema import problem_from_dict
from pgrpo.errors import DataError
from pgrpo.sandbox.kinds import job_limits
from pgrpo.sandbox.pool import PIPELINE_DEPTH, Sandbox
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ExecResult, Job
from pgrpo.sandbox.wire import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JOBS,
    DEFAULT_PORT,
    RUN_PATH,
    TOKEN_ENV,
    Health,
    Limits,
    RunRequest,
    RunResponse,
    result_to_wire,
)
from pgrpo.serving.fair import FairShare
from pgrpo.serving.guard import ConnectionLimits

check_binding = functools.partial(serving.check_binding, token_env=TOKEN_ENV, risk="run programs")


class FairRunner:
    """Runs requests' jobs on `sandbox`, one job per pool slot, slots shared fairly by client.

    `permits` jobs are in the pool at once (PIPELINE_DEPTH per worker keeps every worker busy),
    each on its own thread of a private executor (never the event loop's default pool). The jobs
    of an `outputs_from_canonical` problem wait for that problem's first job, whose run caches
    the canonical outputs, so a group does not compute them once per job (only a complete
    canonical run is cached: if it fails, each job runs it again with its own)."""

    def __init__(self, sandbox: Sandbox, permits: int | None = None) -> None:
        self.sandbox = sandbox
        self.share = FairShare(permits or PIPELINE_DEPTH * max(1, sandbox.config.workers))
        self.executor = ThreadPoolExecutor(self.share.permits, thread_name_prefix="pgrpo-sandbox-run")

    async def run(self, client: str, jobs: Sequence[Job], limits: Mapping[str, Any]) -> list[ExecResult]:
        loop = asyncio.get_running_loop()

        async def one(job: Job) -> ExecResult:
            async with self.share.slot(client):
                return (await loop.run_in_executor(self.executor, self.sandbox.run, [job], False, limits))[0]

        async def group(members: list[Job]) -> list[ExecResult]:
            first = await one(members[0])
            return [first, *await asyncio.gather(*(one(j) for j in members[1:]))]

        groups: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            tests = job.problem.tests
            shared = tests.kind is TestKind.CALL and tests.outputs_from_canonical
            groups.setdefault(id(job.problem) if shared else -1 - i, []).append(i)
        parts = await asyncio.gather(*(group([jobs[i] for i in members]) for members in groups.values()))
        results: list[ExecResult | None] = [None] * len(jobs)
        for members, part in zip(groups.values(), parts):
            for i, result in zip(members, part):
                results[i] = result
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # never shift verdicts onto other jobs: a 500 the client reports with the URL
            raise RuntimeError(f"no verdict for jobs {missing[:10]}")
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def create_app(sandbox: Sandbox, *, token: str | None = None, max_jobs: int = DEFAULT_MAX_JOBS,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, connections: ConnectionLimits | None = None) -> FastAPI:
    """The FastAPI app serving `sandbox` (which the caller owns and closes; `app.state.runner.close()`
    after the server stopped)."""
    ceiling = job_limits(sandbox.config)
    health = Health(pgrpo_version=pgrpo.__version__, isolation=sandbox.isolation, workers=sandbox.config.workers,
                    limits=Limits(**ceiling), max_jobs=max_jobs, max_body_bytes=max_body_bytes)
    app = serving.make_app("pgrpo sandbox", health, token, connections)
    runner = app.state.runner = FairRunner(sandbox)

    def parse(req: RunRequest) -> tuple[list[Job], dict[str, Any]]:
        if req.version != health.api_version:
            raise HTTPException(422, f"version: this service speaks API version {health.api_version}, "
                                     f"got {req.version}")
        if len(req.jobs) > max_jobs:
            raise HTTPException(422, f"jobs: {len(req.jobs)} jobs, at most {max_jobs} per request")
        problems = []
        for i, data in enumerate(req.problems):
            try:
                problems.append(problem_from_dict(data, where=f"problems[{i}]"))
            except DataError as exc:
                raise HTTPException(422, str(exc)) from None
        jobs = []
        for i, job in enumerate(req.jobs):
            if job.problem >= len(problems):
                raise HTTPException(422, f"jobs[{i}].problem: index {job.problem} but only {len(problems)} problems")
            jobs.append(Job(problems[job.problem], job.program))
        limits = dict(ceiling)
        if req.limits is not None:
            for name, value in req.limits.model_dump().items():
                if value > ceiling[name]:
                    raise HTTPException(422, f"limits.{name}: {value} exceeds this service's {ceiling[name]}")
                limits[name] = value
        return jobs, limits

    @app.post(RUN_PATH)
    async def run(request: Request) -> Response:
        jobs, limits = parse(await serving.read_model(request, RunRequest, max_body_bytes))
        results = await runner.run(request.client.host if request.client else "?", jobs, limits)
        reply = RunResponse(isolation=sandbox.isolation, results=[result_to_wire(r) for r in results])
        return Response(reply.model_dump_json(), media_type="application/json")

    return app


def serve(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
          max_jobs: int = DEFAULT_MAX_JOBS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Run the service until interrupted (the CLI). Prints its URL once listening (port 0: a free port)."""
    check_binding(host, token)
    with Sandbox(config) as sandbox:
        app = create_app(sandbox, token=token, max_jobs=max_jobs, max_body_bytes=max_body_bytes)
        try:
            serving.serve_forever("pgrpo sandbox serve", app, serving.bind(host, port), token,
                                  f"isolation={sandbox.isolation}, workers={config.workers}")
        finally:
            app.state.runner.close()


class BackgroundService(serving.BackgroundServer):
    """The service on a free loopback port, in a thread, with its own pool (tests, benchmarks).

    with BackgroundService(SandboxConfig(workers=2), token="t") as svc:
        ... svc.url ...
    """

    def __init__(self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", token: str | None = None,
                 max_jobs: int = DEFAULT_MAX_JOBS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 connections: ConnectionLimits | None = None) -> None:
        check_binding(host, token)
        self.sandbox = Sandbox(config or SandboxConfig())
        app = create_app(self.sandbox, token=token, max_jobs=max_jobs, max_body_bytes=max_body_bytes,
                         connections=connections)
        super().__init__(app, serving.bind(host, 0), "pgrpo-sandbox-service", self._release)

    def _release(self) -> None:
        self.app.state.runner.close()
        self.sandbox.close()
