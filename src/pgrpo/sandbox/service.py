"""`pgrpo sandbox serve`: ONE `Sandbox` pool behind pgrpo.sandbox.wire's API, for every rank of a node.

Owns `create_app`, `serve` (the CLI's) and `BackgroundService` (in a thread: tests, benchmarks). Requests
run with the limits they carry (computed by the client as a local pool would), never above the service's
own. Guards: pgrpo.serving's (loopback unless a token; Host check; head/body deadlines; 413), plus jobs per
request capped, 422 naming the field, and fair slots per client (serving.guard.FairShare).
Does NOT protect against: anyone holding the token (they run programs, as contained as any, and use the
CPUs); eavesdropping or tampering (plain HTTP: use a TLS proxy or a private network); a flood from
many addresses (no rate limits; one address = one turn); a `--token` visible in `ps` (prefer the env var).
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
)
from pgrpo.serving.guard import ConnectionLimits, FairShare

check_binding = functools.partial(serving.check_binding, token_env=TOKEN_ENV, risk="run programs")


class FairRunner:
    """Runs requests' jobs on `sandbox`, one job per pool slot (PIPELINE_DEPTH per worker, on a private
    executor), slots shared fairly by client. The jobs of an `outputs_from_canonical` problem wait for
    its first job, whose run caches the canonical outputs (only a complete run is cached)."""

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
        results = {i: r for members, part in zip(groups.values(), parts)
                   for i, r in zip(members, part, strict=True)}
        return [results[i] for i in range(len(jobs))]  # one verdict per job, in order

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
        reply = RunResponse(isolation=sandbox.isolation, results=results)
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
    """The service on a free loopback port, in a thread, with its own pool (tests, benchmarks)."""

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
