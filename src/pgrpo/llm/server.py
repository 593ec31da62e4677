"""`pgrpo serve`: `ChatServer`, an OpenAI-compatible chat-completions server for a local model
(POST /v1/chat/completions, GET /v1/models); generation is serialised with a lock. For loopback use by
pgrpo's pipelines and tests: no auth, no TLS, no streaming.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pgrpo.llm.base import ChatBackend
from pgrpo.llm.types import ChatRequest

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


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes the socket: not worth a traceback.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class ChatServer:
    """Serves `backend` at http://host:port/v1. `start()` runs in a background thread."""

    def __init__(self, backend: ChatBackend, host: str = "127.0.0.1", port: int = 8000,
                 model_name: str | None = None, verbose: bool = False) -> None:
        self.backend = backend
        self.model_name = model_name or backend.model
        self.verbose = verbose
        self.lock = threading.Lock()
        self.httpd = _HTTPServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.httpd.socket.getsockname()[0]}:{self.port}/v1"

    def start(self) -> ChatServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

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
            status, payload = 400, _error_body(str(exc), "invalid_request_error")
        except Exception as exc:  # noqa: BLE001 - a generation failure is a 500, not a dead server
            status, payload = 500, _error_body(f"{type(exc).__name__}: {exc}", "server_error")
        return status, json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:
                if server.verbose:
                    super().log_message(fmt, *args)

            def _send(self, status: int, payload: dict[str, Any] | bytes) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in server.extra_headers(status).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(200, {"object": "list", "data": [
                        {"id": server.model_name, "object": "model", "owned_by": "pgrpo"}]})
                elif self.path.rstrip("/") in ("", "/health"):
                    self._send(200, {"status": "ok"})
                else:
                    self._send(404, _error_body(f"no route {self.path}", "not_found"))

            def do_POST(self) -> None:  # noqa: N802
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, _error_body(f"no route {self.path}", "not_found"))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0 or length > MAX_BODY:
                    self._send(400, _error_body("missing or oversized request body", "invalid_request_error"))
                    return
                self._send(*server.respond(self.rfile.read(length)))

        return Handler


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}
