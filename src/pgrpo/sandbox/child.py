"""The untrusted side of a job: the spawner that forks jailed runners (`spawner_entry`; its handle is
session.Spawner), and each runner's jail, fds and rlimits up to its mode's code (runners.py).

    worker (trusted harness, pid 1 of its pid namespace) -> spawner (lean, pre-warmed, only forks)
      -> runner: pid 1 of its own fresh pid namespace, forked ahead (~1 ms) and jailed before any
         model code: own mount/ipc namespaces, fresh tmpfs /tmp (cwd) and /dev/shm, only its pipes,
         no capabilities (no_new_privs), rlimits, minimal env. Its end takes its namespace down.
A worker has two spawners: programs, and (role "check") test code: no mount namespace, nothing
writable. Runners are reaped off the critical path, before the next at the latest: jobs never
overlap. Per-job paths avoid page faults (binary requests, precomputed jail arguments).

Does NOT protect against: what isolation.py's primitives do not cover; in "none" mode only
rlimits, a process-group kill and a per-job directory (`job_dir`) apply.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import gc
import importlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
from typing import Any

from pgrpo.sandbox import codec, isolation
from pgrpo.sandbox.runners import RUNNERS

# Imported once by the spawner, so runners start with them loaded (HumanEval prompts
# import typing; a cold `import typing` alone costs a few ms per program).
WARM_MODULES = ("bisect", "collections", "functools", "heapq", "itertools", "math", "re", "string", "typing")
# ... and, for the spawner of test-code runners (checker.py), what test code commonly imports
# (HumanEval/MBPP: random costs a cold process ~5 ms).
WARM_CHECK_MODULES = ("copy", "random")
SRC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The spawner is a fresh, lean interpreter (-S, only the modules it needs): fork cost grows
# with the forking process's memory, and the worker carries the whole harness. Stub
# packages keep pgrpo/__init__ and pgrpo/sandbox/__init__ (the pool, types...) unloaded.
SPAWNER_BOOT = """import sys, json, types
sys.path[:] = json.loads(sys.argv[4])
for name, path in (("pgrpo", {src!r} + "/pgrpo"), ("pgrpo.sandbox", {src!r} + "/pgrpo/sandbox")):
    pkg = types.ModuleType(name); pkg.__path__ = [path]; sys.modules[name] = pkg
from pgrpo.sandbox.child import spawner_entry
spawner_entry(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[5] == "check")
"""

SAFE_ENV = {**isolation.BASE_ENV, "PYTHONIOENCODING": "utf-8"}
HEADER = struct.Struct("!I")
# A runner request, binary on purpose (no JSON parse in the spawner or before the program
# runs: on this class of VM every page a fresh process first writes costs a slow fault):
# memory bytes, cpu s, max processes, file bytes, scratch MB, mode index; then the
# program as UTF-8 (surrogatepass keeps any str intact).
REQUEST = struct.Struct("!QIIQIB")
MODES = tuple(RUNNERS)
STATUS_REQUEST = b"?"  # a request without fds: reply "<wait status> <cpu s>" of the last runner


def pack_request(program: str, mode: str, limits: isolation.Limits, scratch_mb: int) -> bytes:
    return REQUEST.pack(*limits, scratch_mb, MODES.index(mode)) + program.encode("utf-8", "surrogatepass")


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes | None:
    data = bytearray(first)
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _recv_request(sock: socket.socket) -> tuple[bytes, list[int]] | None:
    """One framed request (length header + JSON body) and the fds sent with it."""
    first, fds, _, _ = socket.recv_fds(sock, HEADER.size, 8)
    head = _recv_exact(sock, HEADER.size, first) if first else None
    body = _recv_exact(sock, HEADER.unpack(head)[0]) if head else None
    if body is None:
        for fd in fds:
            os.close(fd)
        return None
    return body, fds


# "job": runners get a fresh tmpfs /tmp (scratch) in their own mount namespace. "check": runners
# of test code (checker.py) get no writable filesystem at all (the worker's sealed read-only
# view, cwd /), so they skip the mount namespace (its creation and teardown cost ~2 ms per job)
# and leave nothing behind; they still get their own pid and ipc namespaces.
_role = "job"


def spawner_entry(sock_fd: int, pidns_fd: int, isolate: bool, check: bool = False) -> None:
    """Main of the spawner process (exec'd by `Spawner._start`)."""
    global _role
    _role = "check" if check else "job"
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
    for fd in (sock_fd, pidns_fd):
        if fd >= 0:
            os.set_inheritable(fd, False)
    for name in WARM_MODULES + (WARM_CHECK_MODULES if check else ()):
        importlib.import_module(name)
    # Done once here instead of in every runner: the runner's environment, signal
    # dispositions and stdio objects (runners dup2 their pipes onto fds 0-2).
    os.environ.clear()
    os.environ.update(SAFE_ENV)
    for sig in (signal.SIGTERM, signal.SIGPIPE, signal.SIGALRM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.argv = ["solution.py"]
    _warm_up()
    # Runners' garbage collections then skip everything inherited: fewer copy-on-write faults.
    gc.collect()
    gc.freeze()
    _spawner_main(socket.socket(fileno=sock_fd), isolate, pidns_fd if pidns_fd >= 0 else None)


def _warm_up() -> None:
    """Run the first-time paths every runner takes (compile, exec, a call, the codecs) once before the
    fork: a cold compile() costs a fresh child ~200 page faults (~3 ms), warm ~85 (~0.4 ms)."""
    namespace: dict[str, Any] = {"__builtins__": builtins}
    exec(compile("def _warm(a, b=1):\n    return [a, b]\n", "<warm-up>", "exec"), namespace)  # noqa: S102 - our own constant
    request = json.loads(b'{"name": "_warm", "args": ' + json.dumps(codec.to_wire((1, "a"))).encode() + b"}\n")
    codec.ENCODE({"t": "ret", "v": codec.to_wire(namespace["_warm"](*codec.from_wire(request["args"])))})


class _Standby:
    """A runner forked ahead of time, jail already built, waiting for its job."""

    def __init__(self, pid: int, sock: socket.socket, scratch_mb: int) -> None:
        self.pid, self.sock, self.scratch_mb = pid, sock, scratch_mb

    def hand_off(self, body: bytes, fds: list[int]) -> bool:
        try:
            socket.send_fds(self.sock, [HEADER.pack(len(body))], fds)
            self.sock.sendall(body)
            return True
        except OSError:
            return False
        finally:
            self.sock.close()


def _spawner_main(sock: socket.socket, isolate: bool, pidns_fd: int | None) -> None:
    """The spawner's loop: one request in, one runner started, its pid out. The next job's runner is
    forked (and jailed) as soon as the current one starts, overlapping the current job's tests."""
    previous: int | None = None
    previous_watch: int | None = None  # a pidfd on `previous`: readable once it has exited
    ended: tuple[int, float] | None = None  # how `previous` ended, once reaped
    standby: _Standby | None = None
    while True:
        # The harness kills a runner when its job is done; reap it (and, isolated, wait for its
        # namespaces to go: the slow part) right then, while the harness writes its verdict
        # and reads the next job, instead of when the next job asks for a runner.
        ready = select.select([sock] + ([previous_watch] if previous_watch is not None else []), [], [])[0]
        if previous_watch is not None and previous_watch in ready:
            os.close(previous_watch)
            previous_watch = None
            ended = _end(previous, isolate) if previous is not None else None
            previous = None
        if sock not in ready:
            continue
        got = _recv_request(sock)
        if got is None:
            break
        body, fds = got
        if not fds and body == STATUS_REQUEST:  # how did the last runner end? (killed by then)
            if previous is not None:
                ended = _end(previous, isolate)
                previous = None
            sock.sendall(b"%d %.3f\n" % ended if ended else b"!no runner\n")
            ended = None
            continue
        if previous is not None:  # the harness is done with it: make sure it is gone
            _end(previous, isolate)
            previous = None
        ended = None
        if previous_watch is not None:
            os.close(previous_watch)
            previous_watch = None
        reply = b"!bad request"
        if len(fds) in (5, 7) and len(body) >= REQUEST.size:
            scratch_mb = REQUEST.unpack_from(body)[4]
            for _ in range(2):  # a standby that died (e.g. jail setup failed) is replaced once
                if standby is not None and standby.scratch_mb != scratch_mb:
                    _end(standby.pid, isolate)
                    standby.sock.close()
                    standby = None
                try:
                    standby = standby or _fork_standby(scratch_mb, isolate, pidns_fd)
                except OSError as exc:
                    reply = b"!" + f"{type(exc).__name__}: {exc}"[:300].encode("utf-8", "replace")
                    break
                chosen, standby = standby, None
                if chosen.hand_off(body, fds):
                    previous = chosen.pid
                    with contextlib.suppress(OSError, AttributeError):  # none where the kernel has no pidfd
                        previous_watch = os.pidfd_open(chosen.pid)
                    reply = b"%d" % chosen.pid
                    break
                _end(chosen.pid, isolate)
                reply = b"!runner died before its job"
        for fd in fds:
            os.close(fd)
        sock.sendall(reply.replace(b"\n", b" ") + b"\n")
        if previous is not None:
            try:
                standby = _fork_standby(scratch_mb, isolate, pidns_fd)
            except OSError:
                standby = None  # retried at the next request
    for pid in (previous, standby.pid if standby else None):
        if pid is not None:
            _end(pid, isolate)


def _end(pid: int, isolate: bool) -> tuple[int, float] | None:
    """Kill and reap runner `pid` (and, without isolation, remove its job directory): its wait
    status and CPU seconds, or None if it was already reaped."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    ended = None
    with contextlib.suppress(ChildProcessError):
        _, status, usage = os.wait4(pid, 0)  # for a pid-namespace init: returns once the namespace is empty
        ended = status, usage.ru_utime + usage.ru_stime
    if not isolate:
        shutil.rmtree(job_dir(pid), ignore_errors=True)
    return ended


def job_dir(pid: int) -> str:
    """The cwd of runner `pid` without isolation (with it, the runner's private tmpfs /tmp)."""
    return os.path.join(tempfile.gettempdir(), f"pgrpo-job-{pid}")


def _fork_standby(scratch_mb: int, isolate: bool, pidns_fd: int | None) -> _Standby:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if isolate:
        if _role == "job":
            isolation.prepare_job_mounts(scratch_mb)
        # The next fork becomes pid 1 of a brand-new pid namespace; then switch back.
        isolation.unshare(isolation.CLONE_NEWPID)
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        if isolate:
            _restore_pid_namespace(pidns_fd)
        raise
    if pid == 0:
        code = 70
        try:
            ours.close()
            _standby_main(theirs, scratch_mb, isolate)
            code = 0
        except BaseException:  # noqa: BLE001 - the spawner sees the hand-off fail and replaces us
            pass
        finally:
            os._exit(code)
    if isolate:  # only in the spawner: the runner must keep forking into its own namespace
        _restore_pid_namespace(pidns_fd)
    theirs.close()
    return _Standby(pid, ours, scratch_mb)


def _restore_pid_namespace(pidns_fd: int | None) -> None:
    """Fork later children into the worker's pid namespace again (isolating needs its fd)."""
    if pidns_fd is None:
        raise OSError("isolating spawner has no pid namespace fd to return to")
    isolation.setns(pidns_fd, isolation.CLONE_NEWPID)


def _standby_main(sock: socket.socket, scratch_mb: int, isolate: bool) -> None:
    """Build the jail, wait for the job, become the runner (never returns normally)."""
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    # Own session and process group, always: kill(0, sig) / killpg reach every member of
    # a group whatever its pid namespace, so the runner must not share the worker's.
    os.setsid()
    if isolate and _role == "check":
        isolation.unshare(isolation.CLONE_NEWIPC)
        workdir = "/"
    elif isolate:
        isolation.enter_job_mounts(scratch_mb)
        workdir = "/tmp"
    else:  # a private directory per job on the host's /tmp (the spawner removes it)
        workdir = job_dir(os.getpid())
        shutil.rmtree(workdir, ignore_errors=True)
        os.mkdir(workdir, 0o700)
        os.environ["TMPDIR"] = tempfile.tempdir = workdir
    with contextlib.suppress(OSError):
        os.chdir(workdir)
    try:
        isolation.drop_capabilities(bounding=not isolate)
    except OSError:
        if isolate and _role == "check":  # shares the worker's mount namespace: never with capabilities
            raise
        isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)
    got = _recv_request(sock)
    if got is None:
        return
    body, fds = got
    sock.close()
    *limits, _, mode = REQUEST.unpack_from(body)
    try:
        # 0-2 stdio, 3/4 from/to the harness; with 7 fds, 5/6 the direct channel between a job's
        # program and its test code (checker.py; the two ends go to the two runners).
        # Moved above 0-6 first: a received fd may itself be one of the targets.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in fds]
        for target, fd in enumerate(high):
            os.dup2(fd, target, inheritable=target < 3)
        os.closerange(len(fds), 65536)
        isolation.apply_rlimits(isolation.Limits(*limits))
        RUNNERS[MODES[mode]](body[REQUEST.size:].decode("utf-8", "surrogatepass"))
    except BaseException as exc:  # noqa: BLE001 - report anything, never return to the spawner loop
        with contextlib.suppress(OSError):
            codec.send({"t": "sandbox", "msg": f"{type(exc).__name__}: {exc}"[:500]})
        os._exit(70)
    os._exit(0)
