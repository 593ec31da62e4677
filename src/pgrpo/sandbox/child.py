"""The untrusted side of a job: the spawner that forks jailed runners, and the runner itself.

Owns `Spawner` (the harness's handle on the spawner process) and the code jailed
processes run. Process tree inside one worker (see worker.py for the worker's jail):

    worker (trusted harness, pid 1 of the worker's pid namespace)
      `- spawner: a small, idle, pre-warmed process that only forks
           `- runner (the model's program): pid 1 of its own fresh pid namespace

Per job the spawner forks ONE process (about 1 ms; a fresh interpreter costs 10-15 ms).
Before it runs any model code the runner enters its own mount and ipc namespaces, mounts
a fresh tmpfs on /tmp (its cwd, scratch_mb) and /dev/shm, keeps only its pipes, drops
every capability (no_new_privs), applies rlimits and a minimal environment. When the
runner ends - or the harness SIGKILLs it - the kernel kills everything left in its pid
namespace (setsid daemons, threads, fork-bomb children): no leaked processes. The spawner
kills and reaps the previous job's runner before forking the next, so jobs of one worker
never overlap.

Two modes: "serve" (exec the program as a module, then answer calls to its functions
over a pipe; results travel as plain data via codec.py) and "stdio" (run the program as
__main__ with the test's stdin). The runner never sees test code or expected outputs.

Does NOT protect against: what the isolation primitives do not cover (see isolation.py).
The runner is pid 1 of its namespace, so signals it sends to itself with the default
action (kill(0, SIGTERM), kill(getpid(), SIGKILL)) are ignored, as for any init. In
"none" isolation mode only rlimits and a process-group kill apply.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import signal
import socket
import struct
import sys

from pgrpo.sandbox import codec, isolation

# Imported once by the spawner, so runners start with them loaded (HumanEval prompts
# import typing; a cold `import typing` alone costs a few ms per program).
WARM_MODULES = ("bisect", "collections", "functools", "heapq", "itertools", "math", "re", "string", "typing")
_SRC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The spawner is a fresh, lean interpreter (-S, only the modules it needs): fork cost grows
# with the forking process's memory, and the worker carries the whole harness. Stub
# packages keep pgrpo/__init__ and pgrpo/sandbox/__init__ (the pool, types...) unloaded.
_SPAWNER_BOOT = """import sys, json, types
sys.path[:] = json.loads(sys.argv[4])
for name, path in (("pgrpo", {src!r} + "/pgrpo"), ("pgrpo.sandbox", {src!r} + "/pgrpo/sandbox")):
    pkg = types.ModuleType(name); pkg.__path__ = [path]; sys.modules[name] = pkg
from pgrpo.sandbox.child import spawner_entry
spawner_entry(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1")
"""

SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
_HEADER = struct.Struct("!I")


class ChildProc:
    """Harness-side handles of one jailed runner (a plain class: dataclasses stays out of
    the lean spawner).

    pid: the runner; SIGKILL it to end the whole job (its pid namespace goes with it).
    ctl_r / ctl_w: messages from / requests to the runner (JSON lines).
    out_r / err_r: its stdout / stderr. in_w: its stdin (stdio mode) or None.
    """

    __slots__ = ("pid", "ctl_r", "ctl_w", "out_r", "err_r", "in_w", "isolated")

    def __init__(self, pid: int, ctl_r: int, ctl_w: int, out_r: int, err_r: int, in_w: int | None,
                 isolated: bool) -> None:
        self.pid, self.ctl_r, self.ctl_w, self.out_r, self.err_r = pid, ctl_r, ctl_w, out_r, err_r
        self.in_w, self.isolated = in_w, isolated


class Spawner:
    """The harness's handle on its spawner process (started lazily, restarted if it dies).

    isolate: give each runner its own pid/mount/ipc namespaces (needs the worker's
    namespaces, see worker.py); pidns_fd: the worker's pid namespace, restored after
    each job's fork.
    """

    def __init__(self, isolate: bool, pidns_fd: int | None = None) -> None:
        self.isolate = isolate
        self._pidns_fd = pidns_fd
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        self._buf = b""

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        keep = [theirs.fileno()] + ([self._pidns_fd] if self._pidns_fd is not None else [])
        argv = [sys.executable, "-I", "-S", "-c", _SPAWNER_BOOT.format(src=_SRC_DIR), str(theirs.fileno()),
                str(-1 if self._pidns_fd is None else self._pidns_fd), "1" if self.isolate else "0",
                json.dumps(sys.path)]
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

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()  # EOF: the spawner kills its last runner and exits
            self._sock = None
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._pid = None

    def spawn(self, program: str, mode: str, limits: isolation.Limits, scratch_mb: int) -> ChildProc:
        """Start a runner for `program`. Returns once it is forked; it reports over ctl_r."""
        if self._sock is None:
            self._start()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if mode == "stdio" else (os.open(os.devnull, os.O_RDONLY), None)
        theirs = [in_r, out_w, err_w, req_r, resp_w]
        body = json.dumps({"program": program, "mode": mode, "scratch_mb": scratch_mb,
                           "limits": [limits.memory_bytes, limits.cpu_seconds, limits.max_processes,
                                      limits.file_bytes]}).encode()
        try:
            socket.send_fds(self._sock, [_HEADER.pack(len(body))], theirs)
            self._sock.sendall(body)
            reply = self._reply()
        except OSError:
            self.close()
            for fd in (req_w, resp_r, out_r, err_r, in_w):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        if "pid" not in reply:
            for fd in (req_w, resp_r, out_r, err_r, in_w):
                if fd is not None:
                    os.close(fd)
            raise OSError(f"spawner could not start the program: {reply.get('error')}")
        return ChildProc(int(reply["pid"]), resp_r, req_w, out_r, err_r, in_w, self.isolate)

    def _reply(self) -> dict:
        while b"\n" not in self._buf:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise OSError("spawner exited")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes | None:
    data = bytearray(first)
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def spawner_entry(sock_fd: int, pidns_fd: int, isolate: bool) -> None:
    """Main of the spawner process (exec'd by `Spawner._start`)."""
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
    for fd in (sock_fd, pidns_fd):
        if fd >= 0:
            os.set_inheritable(fd, False)
    for name in WARM_MODULES:
        importlib.import_module(name)
    _spawner_main(socket.socket(fileno=sock_fd), isolate, pidns_fd if pidns_fd >= 0 else None)


def _spawner_main(sock: socket.socket, isolate: bool, pidns_fd: int | None) -> None:
    """The spawner's loop: one request in, one runner forked, its pid out."""
    previous: int | None = None
    while True:
        first, fds, _, _ = socket.recv_fds(sock, _HEADER.size, 8)
        if not first:
            break
        head = _recv_exact(sock, _HEADER.size, first)
        body = _recv_exact(sock, _HEADER.unpack(head)[0]) if head else None
        if body is None or len(fds) != 5:
            break
        if previous is not None:  # the harness is done with it: make sure it is gone
            _end(previous)
            previous = None
        try:
            previous = _fork_runner(json.loads(body), tuple(fds), isolate, pidns_fd)
            reply = {"pid": previous}
        except OSError as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        for fd in fds:
            os.close(fd)
        sock.sendall((json.dumps(reply) + "\n").encode())
    if previous is not None:
        _end(previous)


def _end(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)  # for a pid-namespace init: returns once the namespace is empty
    except ChildProcessError:
        pass


def _fork_runner(req: dict, fds: tuple[int, ...], isolate: bool, pidns_fd: int | None) -> int:
    if isolate:
        # The next fork becomes pid 1 of a brand-new pid namespace; then switch back.
        isolation.unshare(isolation.CLONE_NEWPID)
    try:
        pid = os.fork()
    except OSError:
        if isolate:
            isolation.setns(pidns_fd, isolation.CLONE_NEWPID)
        raise
    if pid == 0:
        code = 70
        try:
            limits = isolation.Limits(*req["limits"])
            _become_runner(req["program"], req["mode"], limits, int(req["scratch_mb"]), isolate, fds)
            code = 0
        except BaseException as exc:  # noqa: BLE001 - report anything, never return to the spawner loop
            _emergency(fds[4], exc)
        finally:
            os._exit(code)
    if isolate:
        isolation.setns(pidns_fd, isolation.CLONE_NEWPID)
    return pid


def _emergency(fd: int, exc: BaseException) -> None:
    try:
        os.write(fd, (json.dumps({"t": "sandbox", "msg": f"{type(exc).__name__}: {exc}"[:500]}) + "\n").encode())
    except OSError:
        pass


def _become_runner(program: str, mode: str, limits: isolation.Limits, scratch_mb: int, isolate: bool,
                   fds: tuple[int, ...]) -> None:
    in_r, out_w, err_w, req_r, resp_w = fds
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    # Own session and process group, always: kill(0, sig) / killpg reach every member of
    # a group whatever its pid namespace, so the runner must not share the worker's.
    os.setsid()
    if isolate:
        isolation.enter_job_mounts(scratch_mb)
    os.dup2(in_r, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(req_r, 3)
    os.dup2(resp_w, 4)
    os.closerange(5, 65536)
    for fd in (0, 1, 2, 3, 4):
        os.set_inheritable(fd, fd < 3)
    try:
        os.chdir("/tmp")
    except OSError:
        pass
    os.environ.clear()
    os.environ.update(SAFE_ENV)
    try:
        isolation.drop_capabilities(bounding=not isolate)
    except OSError:
        isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)
    isolation.apply_rlimits(limits)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGALRM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.argv = ["solution.py"]
    _RUNNERS[mode](program)


def _send(msg: dict) -> None:
    data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        n = os.write(4, view)
        view = view[n:]


def _exc_msg(exc: BaseException) -> dict:
    return {"t": "exc", "type": type(exc).__name__, "msg": str(exc)[:300], "memory": isinstance(exc, MemoryError)}


def _compile(program: str, filename: str):
    try:
        return compile(program, filename, "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        _send({"t": "syntax", "msg": f"{type(exc).__name__}: {exc}"[:500]})
        os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a broken stream must not skip the reply
            pass


def _serve(program: str) -> None:
    code = _compile(program, "<solution>")
    namespace = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        exec(code, namespace)  # noqa: S102 - running the untrusted program is the point, in the jail
    except BaseException as exc:  # noqa: BLE001
        _flush()
        _send({**_exc_msg(exc), "t": "load_exc"})
        os._exit(0)
    _flush()
    funcs = sorted(k for k, v in list(namespace.items()) if type(v).__name__ == "function" and not k.startswith("__"))
    _send({"t": "ready", "funcs": funcs})
    requests = open(3, "rb", closefd=False)  # noqa: SIM115
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
        _send(reply)
    os._exit(0)


def _stdio(program: str) -> None:
    code = _compile(program, "solution.py")
    namespace = {"__name__": "__main__", "__builtins__": builtins, "__file__": "solution.py"}
    reply = {"t": "done"}
    try:
        exec(code, namespace)  # noqa: S102 - running the untrusted program is the point, in the jail
    except SystemExit as exc:
        if exc.code not in (None, 0):
            reply = {"t": "exc", "type": "SystemExit", "msg": f"exit status {exc.code!r}"[:300], "memory": False}
    except BaseException as exc:  # noqa: BLE001
        reply = _exc_msg(exc)
    _flush()
    _send(reply)
    os._exit(0)  # leftover threads die with the namespace


_RUNNERS = {"serve": _serve, "stdio": _stdio}
