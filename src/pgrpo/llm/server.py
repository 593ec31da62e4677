"""`pgrpo serve`: `ChatServer`, an OpenAI-compatible chat-completions server for a local model
(POST /v1/chat/completions, GET /v1/models); generation is serialised with a lock. For loopback use by
pgrpo's pipelines and tests: no auth, no TLS, no streaming.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from pgrpo.llm.base import ChatBackend, ChatRequest

MAX_BODY = 16 * 1024 * 1024


class RequestError(ValueError):
    """A client error: answered with HTTP 400 and an OpenAI-style error body."""


def request_from_body(body: dict[str, Any]) -> ChatRequest:
    """Build a ChatRequest from an OpenAI chat-completions request body."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    if body.get("stream"):
        raise RequestError("stream=true is not supported")
    stop = body.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 512))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list of {'role', 'content'} objects")
    try:
        return ChatRequest(
            messages=messages,
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            max_tokens=int(max_tokens if max_tokens is not None else 512),
            n=int(body.get("n", 1) or 1),
            seed=None if body.get("seed") is None else int(body["seed"]),
            stop=tuple(stop),
        )
    except (TypeError, ValueError) as exc:
        raise RequestError(str(exc)) from None


class ChatServer:
    """Serves `backend` at http://host:port/v1 (uvicorn on a bound socket): `serve_forever()` (`verbose`:
    log every request), or `start()` in a background thread."""

    def __init__(self, backend: ChatBackend, host: str = "127.0.0.1", port: int = 8000,
                 model_name: str | None = None, verbose: bool = False) -> None:
        from pgrpo.serving import BackgroundServer, bind, url_of

        self.backend = backend
        self.model_name = model_name or backend.model
        self.verbose = verbose
        self.lock = threading.Lock()
        self.sock = bind(host, port)
        self.base_url = url_of(self.sock) + "/v1"
        self._background: BackgroundServer | None = None
        self.app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        models = {"object": "list", "data": [{"id": self.model_name, "object": "model", "owned_by": "pgrpo"}]}

        async def chat(request: Request) -> Response:
            length = int(request.headers.get("content-length") or 0)
            if length <= 0 or length > MAX_BODY:
                status, body = 400, _error_json("missing or oversized request body", "invalid_request_error")
            else:
                status, body = await run_in_threadpool(self.respond, await request.body())
            return Response(body, status, self.extra_headers(status), media_type="application/json")

        def list_models() -> dict[str, Any]:
            return models

        def health() -> dict[str, str]:
            return {"status": "ok"}

        for path in ("/v1/chat/completions", "/chat/completions"):
            self.app.post(path)(chat)
        for path in ("/v1/models", "/models"):
            self.app.get(path)(list_models)
        for path in ("/", "/health"):
            self.app.get(path)(health)

    def serve_forever(self) -> None:
        import uvicorn

        level = "info" if self.verbose else "warning"
        config = uvicorn.Config(self.app, log_level=level, access_log=self.verbose)
        try:
            uvicorn.Server(config).run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self) -> ChatServer:
        from pgrpo.serving import BackgroundServer

        self._background = BackgroundServer(self.app, self.sock, "chat-server", on_stop=lambda: None)
        return self

    def stop(self) -> None:
        if self._background is not None:
            self._background.stop()

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one chat-completions body (raises RequestError for client errors)."""
        req = request_from_body(body)
        with self.lock:
            result = self.backend.generate([req])[0]
        if not result.ok:
            raise RuntimeError(result.error)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                for i, text in enumerate(result.texts)
            ],
            "usage": {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "total_tokens": result.prompt_tokens + result.completion_tokens,
            },
        }

    def extra_headers(self, status: int) -> dict[str, str]:
        """Headers added to a response (none here; test servers add Retry-After to a 429)."""
        return {}

    def respond(self, raw: bytes) -> tuple[int, bytes]:
        """HTTP status and JSON body for one POSTed chat-completions request."""
        try:
            status, payload = 200, self.complete(json.loads(raw.decode("utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, RequestError) as exc:
            return 400, _error_json(str(exc), "invalid_request_error")
        except Exception as exc:  # noqa: BLE001 - a generation failure is a 500, not a dead server
            return 500, _error_json(f"{type(exc).__name__}: {exc}", "server_error")
        return status, json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _error_json(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind}}, ensure_ascii=False).encode("utf-8")
