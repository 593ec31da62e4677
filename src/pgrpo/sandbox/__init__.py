"""Sandboxed execution of model-written programs: the outcome reward R_o and evaluation.

    from pgrpo.sandbox import Sandbox, SandboxConfig, Job, ExecResult, Status
    with Sandbox(SandboxConfig(workers=2)) as sb:
        results = sb.run([Job(problem, program), ...])   # same order; never raises

Design (why it is safe and fast):
- The verdict is decided by a trusted harness that runs neither model code nor code that
  arrived with a problem (a dataset file or a service request is as hostile as a model).
  The program runs in a jailed child; tests call it through a proxy carrying exact
  builtin values only (a subclass of int/list, or an object with a custom `__eq__`, is
  "returned non-plain type"). Expected outputs are compared in the harness; a problem's
  own code (setup code, starter-code helpers, `check`, asserts) runs in a second jailed
  child of the job (checker.py: same jail, no writable filesystem), whose calls reach
  the program only through the harness, as plain values. `sys.exit(0)`, `os._exit(0)`,
  printing "passed", BaseException or monkeypatching in either child just fail the test.
  The "unittest" kind (BigCodeBench) runs its TestCases next to the program, in its jail
  (unittest_run.py).
- `workers` long-lived workers (pool.py), each fed a pipeline of jobs. The expensive
  isolation is built ONCE per worker (worker.py): fresh user, pid, mount, ipc, net
  (loopback down: no network at all) and uts namespaces, every inherited mount
  remounted read-only, an empty /proc (no view of any other process, their environ or
  mem) and an empty read-only /dev/shm. A lean pre-warmed spawner inside it (child.py)
  forks one runner per program (about 1 ms, vs 10-15 ms for a fresh interpreter), and
  forks + jails the next runner while the current program is tested.
- Per program: pid 1 of its own fresh pid namespace (kill(-1), setsid daemons, threads
  and fork-bomb children cannot outlive it or reach anything outside: when it ends or
  is SIGKILLed the kernel tears the namespace down); its own mount and ipc namespaces
  with a fresh private tmpfs as /tmp (cwd, scratch_mb) and /dev/shm, everything else
  read-only; its own session; no capabilities, no_new_privs; minimal environment;
  rlimits (address space = memory_mb, CPU, processes, file size, no core dumps);
  wall-clock limits enforced by the harness with SIGKILL. Jobs of one worker never
  overlap: the previous program's namespace is gone before the next program starts.
- Each worker runs in a pids cgroup (cgroup v1 `pids` or a delegated v2 subtree, when
  writable) capping processes at max_processes + 12, so a fork bomb stays small even
  where RLIMIT_NPROC does not apply (host root); without one, the wall-clock kill ends it.

Where: in this process (a pool per rank, `workers: 0` = this rank's share of the CPUs it may
use, pgrpo.sandbox.resources), or in `pgrpo sandbox serve` on another host (`url`; one pool per
node for all its ranks; pgrpo.sandbox.service / remote) - same engine, same verdicts.

What is isolated, per `isolation` mode ("auto" = bwrap, else unshare; never none - an error
instead; pgrpo.sandbox.modes):
- "bwrap" (default when usable): all of the above, and the worker/harness itself runs in
  bubblewrap (--unshare-all: user, pid, net, ipc, uts, cgroup namespaces; a read-only
  root containing only /usr, system libs, the Python prefix and pgrpo's source; tmpfs
  /tmp; --clearenv; non-root uid 1000; dies with the trainer). The trainer's environment
  variables and files (HF_TOKEN, ~/.cache tokens, the repo) are not visible at all.
- "unshare" (fallback, one loud warning): the same worker and per-program namespaces, but
  the worker starts from the host's filesystem (read-only) with a scrubbed environment;
  programs can read (not write) host files that the trainer's uid can read.
- "none" (only when set explicitly; says why, once, at start): rlimits, scrubbed environment, own session and
  wall-clock kills only; no filesystem, network or process isolation; setsid can
  escape the process-group kill.

What it does NOT protect against: kernel exploits (namespaces share the host kernel);
timing/cache side channels and CPU or memory-bandwidth contention with other jobs;
memory use summed over many processes of one program (RLIMIT_AS is per process); a
fork bomb where no pids cgroup is writable and the uid is root on the host (bounded
only by the wall-clock kill); denial of service through kernel resources not covered by
rlimits. The program is pid 1 of its namespace, so signals it sends itself with the
default action (kill(0, SIGTERM), kill(getpid(), SIGKILL)) are ignored, as for any init. Programs running as host root in "unshare"/"none" mode are
only as contained as those modes say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrpo.sandbox.types import ExecResult, Job, SandboxEngine, Status

if TYPE_CHECKING:
    # "X as X": re-exported for type checkers. At run time __getattr__ imports them on first use: the
    # worker imports this package inside the jail, where only the standard library is loaded.
    from pgrpo.sandbox.pool import Sandbox as Sandbox
    from pgrpo.sandbox.programs import program_from_completion as program_from_completion
    from pgrpo.sandbox.settings import SandboxConfig as SandboxConfig

__all__ = ["ExecResult", "Job", "Sandbox", "SandboxConfig", "SandboxEngine", "Status", "open_sandbox",
           "program_from_completion"]


def open_sandbox(config: SandboxConfig | None = None) -> SandboxEngine:
    """The engine `config` asks for: a client of its `url` services (pgrpo.sandbox.remote), else a
    local pool. Either way `.isolation` is the mode in use, never weaker than the config demands."""
    from pgrpo.sandbox.pool import Sandbox
    from pgrpo.sandbox.settings import SandboxConfig

    config = config or SandboxConfig()
    if config.urls:
        from pgrpo.sandbox.remote import RemoteSandbox

        return RemoteSandbox.from_config(config)
    return Sandbox(config)


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from pgrpo.sandbox.pool import Sandbox

        return Sandbox
    if name == "SandboxConfig":
        from pgrpo.sandbox.settings import SandboxConfig

        return SandboxConfig
    if name == "program_from_completion":
        from pgrpo.sandbox.programs import program_from_completion

        return program_from_completion
    raise AttributeError(f"module 'pgrpo.sandbox' has no attribute {name!r}")
