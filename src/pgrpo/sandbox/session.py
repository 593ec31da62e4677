"""The harness's handle on jailed children: `Spawner` (its spawner process, child.py), `ChildSession`
(message pump, stdin feed, output cap, wall-clock deadlines by SIGKILL of the runner - pid 1 of its
pid namespace, so ignored signals, threads or C loops cannot outlast a limit) and `Abort`, a
BaseException so that test code's broad `except Exception` cannot swallow it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from pgrpo.sandbox import codec, isolation
from pgrpo.sandbox.child import HEADER, SPAWNER_BOOT, SRC_DIR, STATUS_REQUEST, pack_request
from pgrpo.sandbox.types import Status

MAX_MESSAGE = 64 << 20  # a single reply larger than this is output_exceeded


@dataclass(slots=True)
class ChildProc:
    """Harness-side handles of one jailed runner: its pid (SIGKILL ends the whole job), its control
    pipes (JSON lines from / to it), stdout, stderr and stdin (stdio mode, else None)."""

    pid: int
    ctl_r: int
    ctl_w: int
    out_r: int
    err_r: int
    in_w: int | None
    isolated: bool


class Spawner:
    """The harness's handle on its spawner process (started lazily, restarted if it dies). isolate: each
    runner gets its own pid/mount/ipc namespaces; pidns_fd: the worker's, restored after forks."""

    def __init__(self, isolate: bool, pidns_fd: int | None = None, role: str = "job") -> None:
        self.isolate = isolate
        self.role = role  # "job" (programs) or "check" (test code; see child.py)
        self._pidns_fd = pidns_fd
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        self._buf = b""
        self._sibling: Spawner | None = None

    def sibling(self) -> Spawner:
        """A second spawner in the same jail, for the jobs' test code (checker.py): a job's
        program and its test code run side by side, each in a runner of its own. Started
        lazily, closed with this one."""
        if self._sibling is None:
            self._sibling = Spawner(self.isolate, self._pidns_fd, "check")
        return self._sibling

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        keep = [theirs.fileno()] + ([self._pidns_fd] if self._pidns_fd is not None else [])
        argv = [sys.executable, "-I", "-S", "-c", SPAWNER_BOOT.format(src=SRC_DIR), str(theirs.fileno()),
                str(-1 if self._pidns_fd is None else self._pidns_fd), "1" if self.isolate else "0",
                json.dumps(sys.path), self.role]
        pid = os.fork()
        if pid == 0:
            try:
                for fd in keep:
                    os.set_inheritable(fd, True)
                if self.isolate:
                    isolation.keep_sys_admin_across_exec()
                os.execv(sys.executable, argv)
            finally:
                os._exit(70)
        theirs.close()
        self._sock, self._pid, self._buf = ours, pid, b""
        return ours

    def close(self) -> None:
        if self._sibling is not None:
            self._sibling.close()
            self._sibling = None
        if self._sock is not None:
            self._sock.close()  # EOF: the spawner kills its last runner and exits
            self._sock = None
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            self._pid = None

    def spawn(self, program: str, mode: str, limits: isolation.Limits, scratch_mb: int,
              extra_fds: tuple[int, ...] = ()) -> ChildProc:
        """Start a runner for `program`. Returns once it is forked; it reports over ctl_r.
        `extra_fds` become its fds 5 and 6 (the caller keeps, and closes, its own copies)."""
        sock = self._sock or self._start()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if mode == "stdio" else (os.open(os.devnull, os.O_RDONLY), None)
        theirs = [in_r, out_w, err_w, req_r, resp_w]
        body = pack_request(program, mode, limits, scratch_mb)
        ok = False
        try:
            socket.send_fds(sock, [HEADER.pack(len(body))], theirs + list(extra_fds))
            sock.sendall(body)
            reply = self._reply(sock)
            ok = reply.isdigit()
        except OSError:
            self.close()
            raise
        finally:  # theirs always; ours too unless a runner was started
            for fd in [*theirs, *(() if ok else (req_w, resp_r, out_r, err_r, in_w))]:
                if fd is not None:
                    os.close(fd)
        if not ok:
            raise OSError(f"spawner could not start the program: {reply[1:].decode('utf-8', 'replace')}")
        return ChildProc(int(reply), resp_r, req_w, out_r, err_r, in_w, self.isolate)

    def last_exit(self) -> tuple[int, float] | None:
        """Wait status and CPU seconds of the last runner (reaped now; kill it first), or None."""
        if self._sock is None:
            return None
        try:
            self._sock.sendall(HEADER.pack(len(STATUS_REQUEST)) + STATUS_REQUEST)
            reply = self._reply(self._sock)
        except OSError:
            self.close()
            return None
        status, _, cpu = reply.partition(b" ")
        try:
            return int(status), float(cpu)
        except ValueError:
            return None

    def _reply(self, sock: socket.socket) -> bytes:
        """The spawner's reply line: the runner's pid in decimal, or "!" and an error."""
        while b"\n" not in self._buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("spawner exited")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line


class Abort(BaseException):
    """The current test cannot continue; carries the status it ends with."""

    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ChildSession:
    """One running child. Use `message()` to wait for its next control message."""

    def __init__(self, spawner: Spawner, program: str, mode: str, limits: isolation.Limits, scratch_mb: int,
                 output_limit: int, stdin: str = "", extra_fds: tuple[int, ...] = ()) -> None:
        try:
            self.proc: ChildProc = spawner.spawn(program, mode, limits, scratch_mb, extra_fds)
        except OSError as exc:
            raise Abort(Status.SANDBOX_ERROR, f"could not start the program: {exc}"[:300]) from None
        self.output_limit = output_limit
        self.stdout = bytearray()
        self.stderr_tail = bytearray()
        self.total_output = 0
        self.alive = True
        self.silent = False  # see follow()
        self._ctl_buf = bytearray()
        self._messages: list[dict[str, Any]] = []
        self._stdin = memoryview(stdin.encode("utf-8"))
        self._sel = selectors.DefaultSelector()
        for fd in (self.proc.ctl_r, self.proc.out_r, self.proc.err_r):
            os.set_blocking(fd, False)
            self._sel.register(fd, selectors.EVENT_READ)
        if self.proc.in_w is not None:
            os.set_blocking(self.proc.in_w, False)
            if self._stdin:
                self._sel.register(self.proc.in_w, selectors.EVENT_WRITE)
            else:
                os.close(self.proc.in_w)
                self.proc.in_w = None
        self._eof: set[int] = set()

    # ------------------------------------------------------------------ lifecycle
    def kill(self) -> None:
        if self.alive:
            self.alive = False
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            if not self.proc.isolated:  # no pid namespace: kill the session's group too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        self.kill()  # the spawner reaps it (and waits for its namespace to empty) before the next job
        self._sel.close()
        for fd in (self.proc.ctl_r, self.proc.ctl_w, self.proc.out_r, self.proc.err_r, self.proc.in_w):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # ------------------------------------------------------------------ pump
    def _on_output(self, fd: int, data: bytes) -> None:
        self.total_output += len(data)
        if fd == self.proc.out_r:
            room = self.output_limit - len(self.stdout)
            if room > 0:
                self.stdout += data[:room]
        else:
            self.stderr_tail = (self.stderr_tail + data)[-2000:]
        if self.total_output > self.output_limit:
            self.kill()
            raise Abort(Status.OUTPUT_EXCEEDED, f"output exceeded {self.output_limit} bytes")

    def follow(self, other: ChildSession) -> None:
        """While waiting for this session's messages, also pump `other`'s (its output and its
        limits): a job's test code waits on its program, whose output must keep flowing. `other`
        has said all it may on its status pipe (it talks to the test code now): a further
        message is its fault, not something to keep."""
        other.silent = True
        self._sel.register(other._sel.fileno(), selectors.EVENT_READ, other)

    def _pump_once(self, timeout: float) -> None:
        for key, events in self._sel.select(timeout):
            if key.data is not None:
                key.data._pump_once(0)
                continue
            fd = key.fd
            if events & selectors.EVENT_WRITE:
                try:
                    n = os.write(fd, self._stdin[:65536])
                    self._stdin = self._stdin[n:]
                except (BrokenPipeError, OSError):
                    self._stdin = memoryview(b"")
                if not self._stdin:
                    self._sel.unregister(fd)
                    os.close(fd)
                    self.proc.in_w = None
                continue
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not data:
                self._sel.unregister(fd)
                self._eof.add(fd)
                continue
            if fd == self.proc.ctl_r:
                self._ctl_buf += data
                if len(self._ctl_buf) > MAX_MESSAGE:
                    self.kill()
                    raise Abort(Status.OUTPUT_EXCEEDED, "return value too large")
                while b"\n" in self._ctl_buf:
                    if self.silent:
                        self.kill()
                        raise Abort(Status.RUNTIME_ERROR, "unexpected message from program on its status pipe")
                    line, _, rest = bytes(self._ctl_buf).partition(b"\n")
                    self._ctl_buf = bytearray(rest)
                    try:
                        msg = json.loads(line)
                    except (ValueError, RecursionError):
                        msg = None
                    self._messages.append(msg if isinstance(msg, dict) else {"t": "garbage"})
            else:
                self._on_output(fd, data)

    def message(self, deadline: float, timeout_detail: str) -> dict[str, Any] | None:
        """Next control message; None once the child closed its pipe. Abort on timeout."""
        while not self._messages:
            if self.proc.ctl_r in self._eof:
                return None
            self._pump_once(min(self._remaining(deadline, timeout_detail), 1.0))
        return self._messages.pop(0)

    def drain(self, deadline: float) -> None:
        """Read remaining output until every pipe is closed (or the deadline)."""
        fds = {self.proc.ctl_r, self.proc.out_r, self.proc.err_r}
        while not fds <= self._eof:
            self._pump_once(min(self._remaining(deadline, "program did not exit in time"), 1.0))

    def _remaining(self, deadline: float, timeout_detail: str) -> float:
        """Seconds left before `deadline`; past it, the child is killed and the test times out."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.kill()
            raise Abort(Status.TIMEOUT, timeout_detail)
        return remaining

    # ------------------------------------------------------------------ calls
    def call(self, name: str, cls: str | None, args: tuple[Any, ...], deadline: float) -> Any:
        """Call the candidate in the child; return its (plain, decoded) value."""
        try:
            args_wire = codec.to_wire(tuple(args))
        except codec.NotPlainError as exc:
            raise Abort(Status.SANDBOX_ERROR, f"test arguments are not plain data: {exc}") from None
        if not self.alive:
            raise Abort(Status.RUNTIME_ERROR, "program is no longer running")
        self.send({"name": name, "cls": cls, "args": args_wire}, deadline, f"timed out calling {name}")
        reply = self.message(deadline, f"timed out calling {name}")
        if reply is None:
            self.alive = False
            raise Abort(Status.RUNTIME_ERROR, f"program exited while running {name}{self.stderr_hint()}")
        try:
            return codec.decode_reply(reply)  # codec.CandidateError: the program's exception, for the test
        except codec.ReplyFault as fault:
            status, detail = fault.args
            if status == Status.RUNTIME_ERROR:
                self.kill()
            raise Abort(Status(status), detail) from None

    def send(self, msg: dict[str, Any], deadline: float, timeout_detail: str) -> None:
        """Write one JSON-line request to the child, non-blocking with a deadline: a child that stops
        reading must not hang the harness."""
        os.set_blocking(self.proc.ctl_w, False)
        view = memoryview((json.dumps(msg) + "\n").encode())
        while view:
            try:
                view = view[os.write(self.proc.ctl_w, view):]
                continue
            except BlockingIOError:
                pass
            except BrokenPipeError:
                self.alive = False
                raise Abort(Status.RUNTIME_ERROR, "program exited before answering") from None
            select.select([], [self.proc.ctl_w], [], min(self._remaining(deadline, timeout_detail), 0.05))

    def stderr_hint(self) -> str:
        tail = self.stderr_tail.decode("utf-8", "replace").strip().splitlines()
        return f" ({tail[-1][:200]})" if tail else ""
