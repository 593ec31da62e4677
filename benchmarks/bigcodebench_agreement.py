"""Agreement of pgrpo's BigCodeBench verdicts with the benchmark's own harness, item by item.

Runs the same programs - each task's canonical solution (complete_prompt + "\\n" +
canonical_solution, what the benchmark's ground-truth check runs) and, with --wrong, planted
wrong solutions - through pgrpo's sandbox ("unittest" harness, as `pgrpo evaluate` /
`pgrpo check` do) and through `bigcodebench.eval.untrusted_check` (bigcodebench 0.2.5), at
the same limits, and prints one line per program plus every disagreement with both details.

    pip install --no-deps bigcodebench      # 49 kB; its declared deps (vllm, torch...) are not needed here
    python benchmarks/bigcodebench_agreement.py                  # the fixture, canonical + planted wrong
    python benchmarks/bigcodebench_agreement.py --data BigCodeBench.jsonl --time-limit 241

Time limit: both harnesses get --time-limit seconds for one task (the benchmark's own is
240 s + 1; the default here, 10 s, keeps the fixture's sleeping task short). The package's
harness runs UNJAILED in a temporary directory, as it does in its own evaluation: use it only
on code you trust (the dataset's canonical solutions, the fixture). Without the package the
script says why and exits 2 after printing pgrpo's verdicts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "bigcodebench"
MAX_AS_MB, MAX_DATA_MB, MAX_STACK_MB = 30 * 1024, 30 * 1024, 10  # bigcodebench evaluate()'s defaults


@dataclass(frozen=True)
class Item:
    task_id: str
    label: str  # "canonical" | "wrong: <why>"
    program: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class Row:
    item: Item
    ours: str  # pgrpo status
    ours_detail: str
    theirs: str | None  # "pass" | "fail" | "timeout" | None (package unavailable)
    theirs_detail: str

    @property
    def ours_class(self) -> str:
        return {"passed": "pass", "timeout": "timeout"}.get(self.ours, "fail")

    @property
    def agree(self) -> bool:
        return self.theirs is not None and (self.ours == "passed") == (self.theirs == "pass")


def load_items(data: Path, wrong: Path | None) -> list[Item]:
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {r["task_id"]: r for r in rows}
    items = [Item(r["task_id"], "canonical", r["complete_prompt"] + "\n" + r["canonical_solution"], r["test"],
                  r["entry_point"]) for r in rows]
    if wrong is not None and wrong.is_file():
        for line in wrong.read_text(encoding="utf-8").splitlines():
            w = json.loads(line)
            if w["task_id"] in by_id:
                r = by_id[w["task_id"]]
                items.append(Item(w["task_id"], f"wrong: {w.get('why', '')}", w["solution"], r["test"],
                                  r["entry_point"]))
    return items


def run_ours(items: list[Item], data: Path, time_limit: float, workers: int) -> list[tuple[str, str]]:
    from pgrpo.data.loaders import load_problems
    from pgrpo.sandbox.settings import SandboxConfig
    from pgrpo.sandbox.types import Job
    from pgrpo.verify import Verifier

    problems = {p.task_id: p for p in load_problems(data)}
    config = SandboxConfig(timeout_per_test_s=time_limit, timeout_per_program_s=time_limit, memory_mb=MAX_AS_MB,
                           scratch_mb=256, workers=workers)
    with Verifier(config) as verifier:
        results = verifier.run_jobs([Job(problems[i.task_id], i.program) for i in items])
    return [(r.status.value, r.detail) for r in results]


def run_theirs(items: list[Item], time_limit: float) -> list[tuple[str | None, str]]:
    """bigcodebench's untrusted_check on each program; TIMEOUT_LIMIT set so its limit is `time_limit`."""
    import bigcodebench.eval as bcb_eval

    # untrusted_check: timeout = max(TIMEOUT_LIMIT, max(min_time_limit, gt_time_limit)) + 1
    bcb_eval.TIMEOUT_LIMIT = time_limit - 1  # type: ignore[attr-defined]
    out: list[tuple[str | None, str]] = []
    for item in items:
        with contextlib.redirect_stdout(io.StringIO()):  # its safe_environment prints every intercepted call
            stat, details = bcb_eval.untrusted_check(item.program, item.test, item.entry_point, MAX_AS_MB,
                                                     MAX_DATA_MB, MAX_STACK_MB, 1.0, 1.0)
        out.append((stat, json.dumps({k: str(v)[-300:] for k, v in details.items()})))
    return out


def explain(row: Row) -> str:
    """The known cause of a difference, or "unexplained"."""
    if row.ours == "timeout" and row.theirs == "fail" and "TimeoutException" in row.theirs_detail:
        return ("same verdict (not passed), different label: bigcodebench's time limit is a SIGALRM inside the "
                "suite, so the running test ERRORS (TimeoutException) and the task is 'fail'; its 'timeout' "
                "means the process itself did not end. pgrpo's harness kills the jailed child: 'timeout'")
    if row.theirs == "pass" and "skipped by the program" in row.ours_detail:
        return ("bigcodebench counts every skip as a pass; pgrpo only a skip the test code itself makes "
                "(README, BigCodeBench)")
    if row.theirs == "pass" and row.ours_detail.startswith("refused:"):
        return ("pgrpo's unittest kind refuses what a program may not do there (frame access, ctypes, values of "
                "the program's own classes at an assertion...: docs/unittest-threat-model.md); "
                "bigcodebench's harness allows everything")
    return "unexplained"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=FIXTURE / "bigcodebench.jsonl",
                        help="BigCodeBench rows (hub layout), JSONL (default: the test fixture)")
    parser.add_argument("--wrong", type=Path, default=FIXTURE / "wrong_solutions.jsonl",
                        help="planted wrong solutions {task_id, solution, why} (default: the fixture's)")
    parser.add_argument("--no-wrong", action="store_true", help="canonical solutions only")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per task, both harnesses")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    items = load_items(args.data, None if args.no_wrong else args.wrong)
    started = time.perf_counter()
    ours = run_ours(items, args.data, args.time_limit, args.workers)
    ours_s = time.perf_counter() - started
    why_not = ""
    try:
        import bigcodebench.eval  # noqa: F401

        print(f"WARNING: bigcodebench's harness runs the programs of {args.data}"
              f"{'' if args.no_wrong else f' and {args.wrong}'} UNJAILED (no sandbox, as in its own evaluation): "
              "only use files you trust", file=sys.stderr)
        started = time.perf_counter()
        theirs = run_theirs(items, args.time_limit)
        theirs_s = time.perf_counter() - started
    except ImportError as exc:
        why_not = (f"the bigcodebench package is not importable ({type(exc).__name__}: {exc}); "
                   "install it with `pip install --no-deps bigcodebench`")
        theirs, theirs_s = [(None, "")] * len(items), 0.0
    rows = [Row(item, o, od, t, td) for item, (o, od), (t, td) in zip(items, ours, theirs, strict=True)]

    print(f"{'task':<22} {'program':<11} {'pgrpo':<14} {'bigcodebench':<12} agree")
    for row in rows:
        mark = "-" if row.theirs is None else ("yes" if row.agree else "NO")
        print(f"{row.item.task_id:<22} {row.item.label.split(':')[0]:<11} {row.ours:<14} {row.theirs or '-':<12} {mark}")
    print(f"\npgrpo sandbox: {len(rows)} programs in {ours_s:.1f}s; bigcodebench untrusted_check: {theirs_s:.1f}s; "
          f"time limit {args.time_limit:g}s per task in both")
    if why_not:
        print(f"no agreement check: {why_not}")
        return 2
    agree = sum(row.agree for row in rows)
    same_class = sum(row.ours_class == row.theirs for row in rows)
    print(f"pass/fail agreement: {agree}/{len(rows)}; same status class (pass/fail/timeout): {same_class}/{len(rows)}")
    for row in rows:
        if not row.agree or row.ours_class != row.theirs:
            print(f"\nDISAGREEMENT {row.item.task_id} ({row.item.label}): pgrpo {row.ours}, bigcodebench {row.theirs}")
            print(f"  pgrpo: {row.ours_detail[:400]}")
            print(f"  bigcodebench: {row.theirs_detail[:400]}")
            print(f"  why: {explain(row)}")
    return 0 if agree == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
