"""`pgrpo sandbox serve`: the sandbox engine behind a small HTTP API (FastAPI + uvicorn).

Owns `create_app` (the routes of pgrpo.sandbox.wire's API over ONE `Sandbox` pool shared by
every request, so one service per node serves all its local ranks), `serve` (the blocking
server of the CLI) and `BackgroundService` (the same server in a thread: tests, benchmarks).
Trainer containers where namespaces are blocked send programs here, to a host where
bubblewrap works; verdicts are the in-process engine's (same code, same limits: the client's
limits travel with each request and may not exceed the service's own).

Guards (pgrpo.serving's): 127.0.0.1 unless a shared token is set (`--token` or env
PGRPO_SANDBOX_TOKEN; every route 401 without it); bodies capped (413); a malformed request gets
a 4xx naming the field. Here also: jobs per request are capped; an error in one request never
stops the service.

Does NOT protect against: an attacker who holds the token (they can run arbitrary programs in
the sandbox - exactly as contained as a local sandbox, see pgrpo.sandbox - and use its CPU);
eavesdropping or tampering on the network (plain HTTP: no TLS; put it behind a TLS proxy or
keep it on a private network); denial of service by many concurrent clients (requests queue
on the shared pool without per-client fairness or rate limits); a token leaked through the
command line (`--token` is visible in `ps`; prefer the env var).
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import pgrpo
from pgrpo import serving
from pgrpo.data.schema import problem_from_dict
from pgrpo.errors import DataError
from pgrpo.sandbox.pool import Sandbox
from pgrpo.sandbox.types import Job, SandboxConfig, job_limits
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

check_binding = functools.partial(serving.check_binding, token_env=TOKEN_ENV, risk="run programs")


def create_app(sandbox: Sandbox, *, token: str | None = None, max_jobs: int = DEFAULT_MAX_JOBS,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app serving `sandbox` (which the caller owns and closes)."""
    ceiling = job_limits(sandbox.config)
    health = Health(pgrpo_version=pgrpo.__version__, isolation=sandbox.isolation, workers=sandbox.config.workers,
                    limits=Limits(**ceiling), max_jobs=max_jobs, max_body_bytes=max_body_bytes)
    app = serving.make_app("pgrpo sandbox", health, token)

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
        results = await run_in_threadpool(sandbox.run, jobs, False, limits)
        reply = RunResponse(isolation=sandbox.isolation, results=[result_to_wire(r) for r in results])
        return Response(reply.model_dump_json(), media_type="application/json")

    return app


def serve(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
          max_jobs: int = DEFAULT_MAX_JOBS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Run the service until interrupted (the CLI). Prints its URL once listening (port 0: a free port)."""
    check_binding(host, token)
    with Sandbox(config) as sandbox:
        app = create_app(sandbox, token=token, max_jobs=max_jobs, max_body_bytes=max_body_bytes)
        serving.serve_forever("pgrpo sandbox serve", app, serving.bind(host, port), token,
                              f"isolation={sandbox.isolation}, workers={config.workers}")


class BackgroundService(serving.BackgroundServer):
    """The service on a free loopback port, in a thread, with its own pool (tests, benchmarks).

    with BackgroundService(SandboxConfig(workers=2), token="t") as svc:
        ... svc.url ...
    """

    def __init__(self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", token: str | None = None,
                 max_jobs: int = DEFAULT_MAX_JOBS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        check_binding(host, token)
        self.sandbox = Sandbox(config or SandboxConfig())
        app = create_app(self.sandbox, token=token, max_jobs=max_jobs, max_body_bytes=max_body_bytes)
        super().__init__(app, serving.bind(host, 0), "pgrpo-sandbox-service", self.sandbox.close)
