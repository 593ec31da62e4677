"""The long-lived sandbox worker (`main`, started by pool.py): job JSON lines on stdin, verdicts on stdout.

With isolation it first builds its own jail ONCE (user/pid/mount/ipc/net/uts namespaces, read-only
mounts, empty /proc and /dev/shm) and runs as pid 1 there; its spawners (child.py) fork the runners.
Its verdict channel is on close-on-exec fds no child keeps; it is non-dumpable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from typing import Any

from pgrpo.sandbox import codec, isolation
from pgrpo.sandbox.kinds import run_job
from pgrpo.sandbox.session import Spawner
from pgrpo.sandbox.testrun import JobSpec
from pgrpo.sandbox.types import Status

_SPEC_FIELDS = {f.name for f in dataclasses.fields(JobSpec)}


def _handle(line: bytes, spawner: Spawner) -> dict[str, Any]:
    msg = json.loads(line)
    job_id = msg.pop("id")
    start = time.monotonic()
    out: dict[str, Any]
    try:
        spec = JobSpec(**{k: v for k, v in msg.items() if k in _SPEC_FIELDS})
        verdict = run_job(spec, spawner)
        out = {"status": verdict.status.value, "detail": verdict.detail, "tests_passed": verdict.tests_passed,
               "tests_total": verdict.tests_total, "outputs": verdict.outputs}
    except Exception as exc:  # noqa: BLE001 - a harness bug must cost one job, not the worker
        out = {"status": Status.SANDBOX_ERROR.value, "detail": f"harness error: {type(exc).__name__}: {exc}"[:500],
               "tests_passed": 0, "tests_total": 0, "outputs": None}
    out["id"] = job_id
    out["runtime_s"] = time.monotonic() - start
    return out


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _enter_jail() -> int:
    """Build the worker's namespaces; return, in pid 1 of the new pid namespace, an fd on it. The
    process that called unshare stays behind as a waiter whose exit status is the worker's."""
    isolation.enter_worker_namespaces()
    pid = os.fork()
    if pid:
        isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    isolation.prctl(isolation.PR_SET_PDEATHSIG, 9)  # SIGKILL: the waiter (and bwrap) died
    pidns_fd = isolation.own_pid_namespace()
    isolation.seal_worker_filesystem()
    return pidns_fd


def main(isolate: bool = True) -> int:
    # Verdict channel on private close-on-exec fds; 0/1 become /dev/null.
    inp = os.fdopen(os.dup(0), "rb")
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    pidns_fd = None
    try:
        if isolate:
            pidns_fd = _enter_jail()
        else:
            isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
        isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
    except OSError as exc:
        print(f"pgrpo sandbox worker: jail setup failed: {exc}", file=sys.stderr)
        return 3
    spawner = Spawner(isolate, pidns_fd)
    os.write(out_fd, b'{"ready": true}\n')
    for line in inp:
        if not line.strip():
            continue
        codec.send(_handle(line, spawner), out_fd)
        _reap()
    spawner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
