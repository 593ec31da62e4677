"""`pgrpo sandbox serve`: the sandbox engine behind a small HTTP API (FastAPI + uvicorn).

Owns `create_app` (the routes of pgrpo.sandbox.wire's API over ONE `Sandbox` pool shared by
every request, so one service per node serves all its local ranks), `serve` (the blocking
server of the CLI) and `BackgroundService` (the same server in a thread: tests, benchmarks).
Trainer containers where namespaces are blocked send programs here, to a host where
bubblewrap works; verdicts are the in-process engine's (same code, same limits: the client's
limits travel with each request and may not exceed the service's own).

Guards: binds 127.0.0.1 unless told otherwise, and binding any other address requires a
shared token (`--token` or env PGRPO_SANDBOX_TOKEN), checked with hmac.compare_digest on
every route (401 without it); request bodies are capped (413) and streamed into the cap, not
buffered whole first; jobs per request are capped; a malformed request gets a 4xx whose
message names the field; an error in one request never stops the service.

Does NOT protect against: an attacker who holds the token (they can run arbitrary programs in
the sandbox - exactly as contained as a local sandbox, see pgrpo.sandbox - and use its CPU);
eavesdropping or tampering on the network (plain HTTP: no TLS; put it behind a TLS proxy or
keep it on a private network); denial of service by many concurrent clients (requests queue
on the shared pool without per-client fairness or rate limits); a token leaked through the
command line (`--token` is visible in `ps`; prefer the env var).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import sys
import threading
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import pgrpo
from pgrpo.data.schema import problem_from_dict
from pgrpo.errors import DataError, PgrpoError
from pgrpo.sandbox.pool import Sandbox
from pgrpo.sandbox.types import Job, SandboxConfig, job_limits
from pgrpo.sandbox.wire import HEALTH_PATH, RUN_PATH, Health, Limits, RunRequest, RunResponse, result_to_wire

DEFAULT_PORT = 8766
DEFAULT_MAX_JOBS = 1024
DEFAULT_MAX_BODY_BYTES = 64 << 20


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """PgrpoError unless `host` is loopback or a token is set."""
    if not token and not is_loopback(host):
        raise PgrpoError(f"--host {host}: binding beyond loopback needs a shared token (--token or env "
                         "PGRPO_SANDBOX_TOKEN); anyone who can reach the port could run programs otherwise")


def _validation_text(exc: Any) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ())).lstrip(".")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(sandbox: Sandbox, *, token: str | None = None, max_jobs: int = DEFAULT_MAX_JOBS,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app serving `sandbox` (which the caller owns and closes)."""
    ceiling = job_limits(sandbox.config)
    health = Health(pgrpo_version=pgrpo.__version__, isolation=sandbox.isolation, workers=sandbox.config.workers,
                    limits=Limits(**ceiling), max_jobs=max_jobs, max_body_bytes=max_body_bytes)
    expected = token.encode() if token else None
    app = FastAPI(title="pgrpo sandbox", version=str(health.api_version), docs_url=None, redoc_url=None,
                  openapi_url=None)

    def authorize(request: Request) -> None:
        if expected is not None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), expected):
                raise HTTPException(401, "authorization: missing or wrong bearer token",
                                    headers={"WWW-Authenticate": "Bearer"})

    @app.get(HEALTH_PATH)
    def get_health(request: Request) -> dict:
        authorize(request)
        return health.model_dump(mode="json")

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            raise HTTPException(413, f"body: larger than {max_body_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise HTTPException(413, f"body: larger than {max_body_bytes} bytes")
        return bytes(body)

    def parse(body: bytes) -> tuple[list[Job], dict[str, Any]]:
        try:
            req = RunRequest.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(422, _validation_text(exc)) from None
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
        authorize(request)
        jobs, limits = parse(await read_body(request))
        results = await run_in_threadpool(sandbox.run, jobs, False, limits)
        reply = RunResponse(isolation=sandbox.isolation, results=[result_to_wire(r) for r in results])
        return Response(reply.model_dump_json(), media_type="application/json")

    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(app: Any) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30))


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
          max_jobs: int = DEFAULT_MAX_JOBS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Run the service until interrupted (the CLI). Prints its URL once listening (port 0: a free port)."""
    check_binding(host, token)
    with Sandbox(config) as sandbox:
        sock = _bind(host, port)
        server = _server(create_app(sandbox, token=token, max_jobs=max_jobs, max_body_bytes=max_body_bytes))
        print(f"pgrpo sandbox serve: listening on {_url(sock)} (isolation={sandbox.isolation}, "
              f"workers={config.workers}, token={'required' if token else 'none: loopback only'})", flush=True)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    print("pgrpo sandbox serve: stopped", file=sys.stderr)


class BackgroundService:
    """The service on a free loopback port, in a thread, with its own pool (tests, benchmarks).

    with BackgroundService(SandboxConfig(workers=2), token="t") as svc:
        ... svc.url ...
    """

    def __init__(self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", token: str | None = None,
                 max_jobs: int = DEFAULT_MAX_JOBS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        check_binding(host, token)
        self.sandbox = Sandbox(config or SandboxConfig())
        self._sock = _bind(host, 0)
        self.url = _url(self._sock)
        self._server = _server(create_app(self.sandbox, token=token, max_jobs=max_jobs,
                                          max_body_bytes=max_body_bytes))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="pgrpo-sandbox-service")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError("sandbox service did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
        self.sandbox.close()

    def __enter__(self) -> BackgroundService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
