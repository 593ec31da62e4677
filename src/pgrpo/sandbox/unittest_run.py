"""The jailed runner of the "unittest" kind: forks the test process and relays its authenticated lines.

It never runs the program or the tests. It makes a 128-bit secret and a pipe, forks the test process
(unittest_child.py: it points the harness's fds at its own pipe first), and turns each line that
starts with the secret into the harness's messages ({"t": "test", "name", "ok", "skip", "memory",
"msg"}, then "done"); a line without it is tampering, silence or an exit before "done" a failure.
Does NOT protect against a program that reads the test process's memory (docs/unittest-threat-model.md);
the jail around both processes still holds.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from pgrpo.sandbox import codec

REPORT_FD = 4  # where child.py puts the harness's report pipe
REQUEST_FD = 3  # the request pipe (unused in this mode)
_KINDS = {"test": 5, "fixture": 3, "refused": 1, "syntax": 1, "load": 3, "done": 0}


def _message(secret: bytes, line: bytes, names: frozenset[str]) -> dict[str, Any]:
    """The harness message for one line of the test process, or a tamper message."""
    head, _, rest = line.partition(b" ")
    if head != secret:
        return {"t": "tamper", "msg": "a report line without the runner's secret: the program wrote to the report pipe"}
    try:
        fields = [bytes.fromhex(f.decode("ascii")).decode("utf-8", "replace") if f != b"-" else ""
                  for f in rest.split(b" ")]
    except ValueError:
        return {"t": "tamper", "msg": "a malformed report line"}
    kind, args = fields[0], fields[1:]
    if _KINDS.get(kind) != len(args):
        return {"t": "tamper", "msg": f"a malformed report line ({kind[:30]!r})"}
    if kind == "test":
        name, ok, skip, memory, detail = args
        if name not in names:
            return {"t": "tamper", "msg": f"a report for an unknown test {name[:50]!r}"}
        return {"t": "test", "name": name, "ok": ok == "1", "skip": skip == "1", "memory": memory == "1",
                "msg": detail}
    if kind == "fixture":
        return {"t": "test", "name": f"<{args[0]}>", "ok": False, "skip": False, "memory": args[2] == "1",
                "msg": args[1]}
    if kind == "refused":
        return {"t": "tamper", "msg": f"refused: {args[0]}"}
    if kind == "syntax":
        return {"t": "syntax", "msg": args[0]}
    if kind == "load":
        return {"t": "load_exc", "type": args[0], "msg": args[1], "memory": args[2] == "1"}
    return {"t": "done"}


def _ended(pid: int, status: int | None, send: Callable[[dict[str, Any]], None]) -> None:
    """Tell the harness when the test process was ended by its CPU limit (SIGXCPU, or SIGKILL at
    the hard limit): a timeout, not a crash."""
    for _ in range(10):
        if status is not None:
            break
        got, status = os.waitpid(pid, os.WNOHANG)
        status = status if got == pid else None
        time.sleep(0.05)
    if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        send({"t": "cpu", "msg": f"CPU time limit exceeded ({usage.ru_utime + usage.ru_stime:.0f} CPU s: "
                                 "threads count too)"})


def _relay(rfd: int, pid: int, secret: bytes, names: frozenset[str], send: Callable[[dict[str, Any]], None]) -> None:
    """Forward the test process's authenticated lines until "done", a bad line, or its end."""
    buf, status = b"", None
    while True:
        ready = select.select([rfd], [], [], 0.2)[0]
        if not ready:
            if status is not None:
                return _ended(pid, status, send)
            got, code = os.waitpid(pid, os.WNOHANG)  # one more pass drains what it left
            status = code if got == pid else None
            continue
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            return _ended(pid, status, send)
        buf += chunk
        if len(buf) > 64 << 20:
            send({"t": "tamper", "msg": "the report pipe overflowed"})
            return
        while b"\n" in buf:
            line, _, buf = buf.partition(b"\n")
            msg = _message(secret, line, names)
            send(msg)
            if msg["t"] in ("done", "tamper", "syntax", "load_exc"):
                return


def run_unittest(payload: str, flush: Callable[[], None]) -> None:
    """Fork the test process (unittest_child.child_main) and relay its reports to the harness."""
    data = json.loads(payload)
    box = [os.urandom(16).hex().encode()]
    secret = box[0]
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the test process: the harness's pipes go first, before any other code runs
        try:
            os.close(rfd)
            for fd in (REQUEST_FD, REPORT_FD):
                os.dup2(wfd, fd)  # the two well-known fds now lead to our own pipe, never to the harness
            os.close(wfd)
            os.set_inheritable(REPORT_FD, False)
            os.close(REQUEST_FD)
            del secret
            from pgrpo.sandbox.unittest_child import child_main

            child_main(data, box, REPORT_FD)
        finally:
            os._exit(70)
    os.close(wfd)
    box.clear()
    _relay(rfd, pid, secret, frozenset(data["names"]), codec.send)
    flush()
