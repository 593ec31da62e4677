"""Sandboxed execution of model-written programs: the outcome reward R_o and evaluation.

    from pgrpo.sandbox import Sandbox, SandboxConfig, Job, ExecResult, Status
    with Sandbox(SandboxConfig(workers=2)) as sb:
        results = sb.run([Job(problem, program), ...])   # same order; never raises

Design (why it is safe and fast):
- The verdict is decided by a trusted harness that never runs model code. The program
  runs in a jailed child; tests call it through a proxy carrying exact builtin values
  only (a subclass of int/list, or an object with a custom `__eq__`, is "returned
  non-plain type"). Test code, starter-code helpers and expected outputs stay on the
  trusted side; `sys.exit(0)`, `os._exit(0)`, printing "passed", BaseException or
  monkeypatching in the child just fail the test being run.
- `workers` long-lived workers (pool.py) pre-import the harness and stdlib, then fork a
  jail per program (a few ms) instead of starting an interpreter (10-15 ms).
- Per program (child.py/isolation.py): fresh user, pid, mount, ipc, net and uts
  namespaces; every inherited mount remounted read-only; a fresh private tmpfs as /tmp
  (cwd, scratch_mb) and /dev/shm; an empty /proc (no view of any other process, their
  environ or mem); minimal environment; no capabilities, no_new_privs; rlimits (address
  space = memory_mb, CPU, processes, file size, no core dumps); wall-clock limits enforced
  by the harness with SIGKILL; when the program ends or is killed, its pid namespace is
  torn down by the kernel, so setsid daemons, threads and fork-bomb children all die.

What is isolated, per `isolation` mode:
- "bwrap" (default when usable): all of the above, and the worker/harness itself runs in
  bubblewrap (--unshare-all: user, pid, net, ipc, uts, cgroup namespaces; a read-only
  root containing only /usr, system libs, the Python prefix and pgrpo's source; tmpfs
  /tmp; --clearenv; non-root uid 1000; dies with the trainer). The trainer's environment
  variables and files (HF_TOKEN, ~/.cache tokens, the repo) are not visible at all.
- "unshare" (fallback, loud warning): the per-program jail above, but the worker runs on
  the host with a scrubbed environment; programs can read (not write) host files that the
  trainer's uid can read.
- "none" (last resort, loud warning): rlimits, scrubbed environment and wall-clock kills
  only; no filesystem, network or process isolation; setsid can escape the group kill.

What it does NOT protect against: kernel exploits (namespaces share the host kernel);
timing/cache side channels and CPU or memory-bandwidth contention with other jobs;
memory use summed over many processes of one program (RLIMIT_AS is per process; a fork
bomb is bounded by max_processes only when the uid is not root on the host, and
otherwise by the wall-clock kill); denial of service through kernel resources
not covered by rlimits. Programs running as host root in "unshare"/"none" mode are
only as contained as those modes say.
"""

from pgrpo.sandbox.pool import Sandbox
from pgrpo.sandbox.programs import program_from_completion
from pgrpo.sandbox.types import ExecResult, Job, SandboxConfig, Status

__all__ = ["ExecResult", "Job", "Sandbox", "SandboxConfig", "Status", "program_from_completion"]
