"""`Sandbox`: a pool of pre-warmed, jailed workers running batches of jobs (thread-safe `run`).

Owns each worker's pids cgroup and restart (a dead or hung worker costs its running job a
sandbox_error, never a pass; its queued jobs are resent), the per-worker job pipeline, and the
LRU cache of complete canonical runs for `outputs_from_canonical` call tests.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import queue
import select
import subprocess
import threading
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, as_completed
from typing import Any, NamedTuple

from pgrpo.data.problem import TestKind
from pgrpo.sandbox.isolation import PidsCgroup
from pgrpo.sandbox.kinds import SPECS, effective_limits
from pgrpo.sandbox.modes import WORKER_ENV, resolve_isolation, worker_command
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ExecResult, Job, Status

PIPELINE_DEPTH = 2  # jobs queued per worker: one running, one ready to start
PIPELINE_MAX_BYTES = 32 << 10  # bigger job lines are not queued behind another job
WORKER_GRACE_S = 30  # past its job's per-program limit, a silent worker is taken as hung and restarted
CANONICAL_CACHE_SIZE = 4096  # problems whose canonical outputs are kept (least recently used dropped)


class _Worker:
    """One jailed worker process and its pipes (manager side)."""

    def __init__(self, cmd: list[str], pids_limit: int) -> None:
        self.cmd = cmd
        self.pids_limit = pids_limit
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroup: PidsCgroup | None = None
        self._stale: list[PidsCgroup] = []
        self._buf = b""

    def start(self) -> subprocess.Popen[bytes]:
        self.cgroup = PidsCgroup.create(self.pids_limit)
        cmd = self.cgroup.wrap(self.cmd) if self.cgroup is not None else self.cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=WORKER_ENV, start_new_session=True)
        self._buf = b""
        hello = self.read_line(time.monotonic() + 60)
        if hello is None:
            raise RuntimeError(f"sandbox worker failed to start: {' '.join(self.cmd[:3])} ...")
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # a no-op once it has exited
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
            self.proc = None
        if self.cgroup is not None:
            self._stale.append(self.cgroup)
            self.cgroup = None
        for _ in range(100):  # its processes die within moments of bwrap/the worker
            self._stale = [cg for cg in self._stale if not cg.remove()]
            if not self._stale:
                break
            time.sleep(0.01)

    def read_line(self, deadline: float) -> dict[str, Any] | None:
        """The worker's next JSON line; None at EOF, at the deadline, or with no worker running."""
        stdout = self.proc.stdout if self.proc is not None else None
        if stdout is None:
            return None
        fd = stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def send(self, line: bytes) -> None:
        """Queue one job line (starting the worker if needed). OSError if it is gone."""
        stdin = (self.proc or self.start()).stdin
        assert stdin is not None  # started with stdin=PIPE
        try:
            stdin.write(line)
            stdin.flush()
        except ValueError as exc:  # closed stream
            raise OSError(str(exc)) from None

    def receive(self, job_id: int, timeout: float) -> dict[str, Any] | None:
        """The verdict line of `job_id` (replies come in order), or None if the worker died
        or hung; then the worker is stopped (restarted by the next send)."""
        try:
            reply = self.read_line(time.monotonic() + timeout)
        except (OSError, ValueError):
            reply = None
        if reply is None or reply.get("id") != job_id:
            self.stop()
            return None
        return reply


# A job's verdict line, or None if its worker died or hung; set once, by its dispatcher thread.
Reply = Future[dict[str, Any] | None]


class _Inflight(NamedTuple):
    """A job line queued in a worker, awaiting its verdict (a hung worker after `timeout` s)."""

    reply: Reply
    job_id: int
    line: bytes
    timeout: float


def memory_available_mb(meminfo: str = "/proc/meminfo") -> int | None:
    """MemAvailable in MiB, or None where it cannot be read."""
    try:
        with open(meminfo) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) >> 10
    except (OSError, ValueError, IndexError):
        pass
    return None


class Sandbox:
    """Run programs against problems' tests in jailed, pre-warmed workers (see pgrpo.sandbox)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.isolation = resolve_isolation(self.config.isolation)
        self._cmd = worker_command(self.isolation)
        # Worker, its waiter, bwrap, the two spawners (programs, test code), the test code's runner,
        # the standbys and a few spares on top of the program's own.
        self._workers = [_Worker(self._cmd, self.config.max_processes + 12) for _ in range(self.config.workers)]
        # Canonical outputs by a hash of the whole canonical run (solution, cases, entry point, limits).
        self._canonical: OrderedDict[str, list[Any]] = OrderedDict()
        self._canonical_lock = threading.Lock()
        self._todo: queue.Queue[tuple[Reply, dict[str, Any]] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._serve, args=(w,), daemon=True, name=f"sandbox-worker-{k}")
                         for k, w in enumerate(self._workers)]
        for th in self._threads:
            th.start()
        self._closed = False
        self._memory_warned: set[TestKind] = set()
        atexit.register(self.close)  # stop workers and remove their cgroups even if never closed

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            atexit.unregister(self.close)
            for _ in self._threads:
                self._todo.put(None)
            for th in self._threads:
                th.join(timeout=30)

    # ------------------------------------------------------------------ messages
    def _message(self, job: Job, limits: Mapping[str, Any], collect: bool = False,
                 expected_by_problem: Mapping[int, list[Any]] | None = None) -> dict[str, Any]:
        p, t = job.problem, job.problem.tests
        expected = (expected_by_problem or {}).get(id(p)) if t.outputs_from_canonical else None
        return {"kind": t.kind.value, "program": job.program, "entry_point": p.entry_point, "class_name": t.class_name,
                "atol": t.atol, "collect": collect, **limits, **SPECS[t.kind].fields(p, expected, collect)}

    # ------------------------------------------------------------------ batch
    def _serve(self, worker: _Worker) -> None:
        """Dispatcher thread of `worker`, as long-lived as the Sandbox: bwrap's --die-with-parent is tied to
        the thread that started it. Keeps PIPELINE_DEPTH jobs queued in the worker; replies come in order."""
        inflight: deque[_Inflight] = deque()
        seq = 0
        stopping = False
        while True:
            while not stopping and len(inflight) < PIPELINE_DEPTH:
                # A big job line could fill the pipe of a hung worker: send those alone.
                if inflight and len(inflight[-1].line) > PIPELINE_MAX_BYTES:
                    break
                try:
                    item = self._todo.get(block=not inflight)
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                reply, msg = item
                seq += 1
                line = (json.dumps({**msg, "id": seq}, separators=(",", ":")) + "\n").encode()
                timeout = float(msg.get("timeout_per_program_s", self.config.timeout_per_program_s)) + WORKER_GRACE_S
                if self._send(worker, reply, line, inflight):
                    inflight.append(_Inflight(reply, seq, line, timeout))
            if not inflight:
                if stopping:
                    worker.stop()
                    return
                continue
            reply, job_id, _, timeout = inflight.popleft()
            verdict = worker.receive(job_id, timeout)
            reply.set_result(verdict)
            if verdict is None:  # worker replaced: resend what it had queued but not started
                queued = list(inflight)
                inflight.clear()
                for job in queued:
                    if self._send(worker, job.reply, job.line, inflight):
                        inflight.append(job)

    @staticmethod
    def _send(worker: _Worker, reply: Reply, line: bytes, inflight: deque[_Inflight]) -> bool:
        try:
            if worker.proc is not None and worker.proc.poll() is not None and not inflight:
                worker.stop()
            worker.send(line)
            return True
        except Exception as exc:  # noqa: BLE001 - e.g. worker failed to start: that job errors
            worker.stop()
            reply.set_result({"status": "sandbox_error", "detail": f"worker failure: {exc}"[:300]})
            return False

    def _execute(self, messages: list[dict[str, Any]], progress: bool, desc: str) -> list[dict[str, Any] | None]:
        replies: list[Reply] = [Future() for _ in messages]
        for reply, msg in zip(replies, messages):
            self._todo.put((reply, msg))
        if progress:
            from tqdm.auto import tqdm

            with tqdm(total=len(messages), desc=desc, unit="prog") as bar:
                for _ in as_completed(replies):
                    bar.update(1)
        return [reply.result() for reply in replies]

    def _canonical_outputs(self, jobs: Sequence[Job], limits: Mapping[str, Any],
                           progress: bool) -> dict[int, list[Any]]:
        """The expected outputs of this batch's `outputs_from_canonical` problems, by id(problem): cached,
        else from running each canonical solution (collect mode) under `limits`. Keyed by a hash of the
        whole canonical run's message; only complete runs are cached (a partial one serves this batch)."""
        found: dict[int, list[Any]] = {}
        keys: dict[int, str] = {}
        need: dict[str, dict[str, Any]] = {}
        for job in jobs:
            p = job.problem
            if p.tests.kind is not TestKind.CALL or not p.tests.outputs_from_canonical or id(p) in keys:
                continue
            msg = self._message(Job(p, p.canonical_solution or ""), limits, collect=True)
            key = keys[id(p)] = hashlib.sha256(json.dumps(msg, sort_keys=True, separators=(",", ":"))
                                               .encode()).hexdigest()
            with self._canonical_lock:
                cached = self._canonical.get(key)
                if cached is not None:
                    self._canonical.move_to_end(key)
            if cached is not None:
                found[id(p)] = cached
            elif key not in need:
                need[key] = msg
        if need:
            replies = self._execute(list(need.values()), progress, "canonical")
            fresh = {}
            for (key, msg), reply in zip(need.items(), replies):
                outputs = (reply or {}).get("outputs")
                if not isinstance(outputs, list):
                    continue
                fresh[key] = outputs
                complete = (reply or {}).get("status") == Status.PASSED.value and len(outputs) == len(msg["cases"])
                if complete:
                    with self._canonical_lock:
                        self._canonical[key] = outputs
                        self._canonical.move_to_end(key)
                        while len(self._canonical) > CANONICAL_CACHE_SIZE:
                            self._canonical.popitem(last=False)
            found.update({pid: fresh[key] for pid, key in keys.items() if key in fresh})
        return found

    def run(self, jobs: Sequence[Job], progress: bool = False,
            limits: Mapping[str, Any] | None = None) -> list[ExecResult]:
        """Results in job order; never raises for a bad program. Jobs run with `limits` when given (a
        service passes its client's, checked by the service), else `_kind_limits`."""
        if self._closed:
            raise RuntimeError("Sandbox is closed: run() needs an open Sandbox (use it inside `with`)")
        per_kind = {kind: dict(limits) if limits is not None else self._kind_limits(kind)
                    for kind in {j.problem.tests.kind for j in jobs}}
        expected = self._canonical_outputs(jobs, per_kind.get(TestKind.CALL, {}), progress)
        replies = self._execute([self._message(j, per_kind[j.problem.tests.kind], expected_by_problem=expected)
                                 for j in jobs], progress, "sandbox")
        return [_to_result(reply, job) for reply, job in zip(replies, jobs)]

    def _kind_limits(self, kind: TestKind) -> dict[str, Any]:
        """`kinds.effective_limits` of a `kind` job, a memory cap the kind raised above the config's held to
        at most MemAvailable / workers (a warning once when lower)."""
        out = effective_limits(self.config, kind)
        available = memory_available_mb()
        if out["memory_mb"] > self.config.memory_mb and available is not None:
            share = max(available // max(self.config.workers, 1), self.config.memory_mb)
            if share < out["memory_mb"]:
                if kind not in self._memory_warned:
                    self._memory_warned.add(kind)
                    msg = (f"sandbox: {kind.value} jobs get {share} MiB of address space per process instead of "
                           f"their benchmark's {out['memory_mb']} MiB (MemAvailable {available} MiB / "
                           f"{self.config.workers} workers); pass --sandbox-memory-mb to choose")
                    warnings.warn(msg, RuntimeWarning, stacklevel=3)
                out["memory_mb"] = share
        return out


def _to_result(reply: dict[str, Any] | None, job: Job) -> ExecResult:
    if reply is None:
        reply = {"status": Status.SANDBOX_ERROR.value,
                 "detail": "sandbox worker died or hung during this job; restarted"}
    status = Status(reply.get("status", "sandbox_error"))
    passed_n = int(reply.get("tests_passed", 0))
    total = int(reply.get("tests_total", job.problem.tests.count)) or job.problem.tests.count
    frac = passed_n / total if total else 0.0
    return ExecResult(status is Status.PASSED, frac, status, str(reply.get("detail", "")),
                      float(reply.get("runtime_s", 0.0)), passed_n, total)
