"""The code a jailed runner runs, by mode (`RUNNERS`; child.py exits the process when it returns).

Loaded by the spawner before it forks. Does NOT protect against anything itself: it runs the
untrusted program; the jail and the trusted harness do the protecting.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from types import CodeType
from typing import Any

from pgrpo.sandbox import checker, codec, unittest_run


def _exc_msg(exc: BaseException) -> dict[str, Any]:
    return {"t": "exc", "type": type(exc).__name__, "msg": str(exc)[:300], "memory": isinstance(exc, MemoryError)}


def _compile(program: str, filename: str) -> CodeType:
    try:
        return compile(program, filename, "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        codec.send({"t": "syntax", "msg": f"{type(exc).__name__}: {exc}"[:500]})
        os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # a broken stream must not skip the reply
            stream.flush()


def _serve(program: str, calls_fd: int = 3, replies_fd: int = 4) -> None:
    """Load the program (its status goes to the harness, fd 4), then answer calls read from
    `calls_fd` on `replies_fd`: the harness's (3, 4), or the job's test code's (5, 6:
    "serve-checked", see checker.py)."""
    code = _compile(program, "<solution>")
    namespace: dict[str, Any] = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        exec(code, namespace)  # noqa: S102 - running the untrusted program is the point, in the jail
    except BaseException as exc:  # noqa: BLE001
        _flush()
        codec.send({**_exc_msg(exc), "t": "load_exc"})
        os._exit(0)
    _flush()
    funcs = sorted(k for k, v in list(namespace.items()) if type(v).__name__ == "function" and not k.startswith("__"))
    codec.send({"t": "ready", "funcs": funcs})
    requests = open(calls_fd, "rb", closefd=False)  # noqa: SIM115
    for line in requests:
        req = json.loads(line)
        try:
            args = codec.from_wire(req["args"])
            if req.get("cls"):
                target = getattr(namespace[req["cls"]](), req["name"])
            else:
                target = namespace[req["name"]]
            value = target(*args)
            _flush()
            try:
                reply = {"t": "ret", "v": codec.to_wire(value)}
            except codec.NotPlainError as exc:
                reply = {"t": "bad", "msg": f"returned {exc}"}
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt are failures too
            _flush()
            reply = _exc_msg(exc)
        codec.send(reply, replies_fd)


def _stdio(program: str) -> None:
    code = _compile(program, "solution.py")
    namespace = {"__name__": "__main__", "__builtins__": builtins, "__file__": "solution.py"}
    reply: dict[str, Any] = {"t": "done"}
    try:
        exec(code, namespace)  # noqa: S102 - running the untrusted program is the point, in the jail
    except SystemExit as exc:
        if exc.code not in (None, 0):
            reply = {"t": "exc", "type": "SystemExit", "msg": f"exit status {exc.code!r}"[:300], "memory": False}
    except BaseException as exc:  # noqa: BLE001
        reply = _exc_msg(exc)
    _flush()
    codec.send(reply)


# "serve-checked" answers the job's test code (fds 5, 6; checker.py); leftover threads die with the namespace.
RUNNERS: dict[str, Callable[[str], None]] = {
    "serve": _serve,
    "stdio": _stdio,
    "unittest": functools.partial(unittest_run.run_unittest, flush=_flush),
    "check": functools.partial(checker.run_checker, send=codec.send),
    "serve-checked": functools.partial(_serve, calls_fd=5, replies_fd=6),
}
