"""The untrusted side of a job: fork a jailed process that runs the model's program.

Owns `start_child` (called by the trusted harness) and the code the jailed process runs.
Process tree per child:  harness -> jobroot -> init (pid 1 of a fresh pid namespace)
-> runner (the program). The runner has its own user/mount/ipc/net/uts namespaces, a
read-only filesystem with fresh tmpfs /tmp (its cwd) and /dev/shm, an empty /proc, no
capabilities, rlimits, a minimal environment and only its pipes open. When the runner
ends (or the harness SIGKILLs jobroot, which SIGKILLs init via PDEATHSIG) init exits and
the kernel kills everything left in the namespace: no leaked processes.

Two modes: "serve" (exec the program as a module, then answer calls to its functions
over a pipe; results travel as plain data via codec.py) and "stdio" (run the program as
__main__ with the test's stdin). The runner never sees test code or expected outputs.

Does NOT protect against: what the isolation primitives do not cover (see isolation.py);
in "none" isolation mode only rlimits and a process-group kill apply.
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import sys
from dataclasses import dataclass

from pgrpo.sandbox import codec, isolation

SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


@dataclass
class ChildProc:
    """Harness-side handles of one jailed child."""

    pid: int  # jobroot; SIGKILL it to end the whole job
    ctl_r: int  # messages from the runner (JSON lines)
    ctl_w: int  # requests to the runner (JSON lines)
    out_r: int  # runner's stdout
    err_r: int  # runner's stderr
    in_w: int | None  # runner's stdin (stdio mode)
    isolated: bool


def start_child(program: str, mode: str, limits: isolation.Limits, scratch_mb: int, isolate: bool) -> ChildProc:
    """Fork the jailed child. Returns immediately; the runner reports over ctl_r."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if mode == "stdio" else (os.open(os.devnull, os.O_RDONLY), None)
    pid = os.fork()
    if pid == 0:  # jobroot
        code = 70
        try:
            code = _jobroot(program, mode, limits, scratch_mb, isolate, (in_r, out_w, err_w, req_r, resp_w))
        except BaseException as exc:  # noqa: BLE001 - report anything, never return to the worker loop
            _emergency(resp_w, exc)
        finally:
            os._exit(code)
    for fd in (req_r, resp_w, out_w, err_w, in_r):
        os.close(fd)
    return ChildProc(pid, resp_r, req_w, out_r, err_r, in_w, isolate)


def _emergency(fd: int, exc: BaseException) -> None:
    try:
        os.write(fd, (json.dumps({"t": "sandbox", "msg": f"{type(exc).__name__}: {exc}"[:500]}) + "\n").encode())
    except OSError:
        pass


def _jobroot(program: str, mode: str, limits: isolation.Limits, scratch_mb: int, isolate: bool,
             fds: tuple[int, ...]) -> int:
    os.setsid()
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    _keep_only(fds)
    if isolate:
        isolation.enter_job_namespaces()
        init = os.fork()
        if init == 0:
            code = 70
            try:
                code = _init(program, mode, limits, scratch_mb, fds)
            except BaseException as exc:  # noqa: BLE001
                _emergency(fds[4], exc)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        _, status = os.waitpid(init, 0)
        return os.waitstatus_to_exitcode(status) & 0xFF
    _become_runner(program, mode, limits, fds)
    return 0


def _init(program: str, mode: str, limits: isolation.Limits, scratch_mb: int, fds: tuple[int, ...]) -> int:
    """pid 1 of the job's namespace: seal the filesystem, start the runner, reap, exit."""
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
    isolation.seal_filesystem(scratch_mb)
    runner = os.fork()
    if runner == 0:
        code = 70
        try:
            _become_runner(program, mode, limits, fds)
            code = 0
        except BaseException as exc:  # noqa: BLE001
            _emergency(fds[4], exc)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    while True:  # reap orphans until the runner itself is gone
        pid, status = os.wait()
        if pid == runner:
            return os.waitstatus_to_exitcode(status) & 0xFF


def _keep_only(fds: tuple[int, ...]) -> None:
    keep = sorted(set(fds))
    low = 3
    for fd in keep:
        if fd >= low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, 65536)


def _become_runner(program: str, mode: str, limits: isolation.Limits, fds: tuple[int, ...]) -> None:
    in_r, out_w, err_w, req_r, resp_w = fds
    os.setsid()
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
        isolation.drop_capabilities()
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
