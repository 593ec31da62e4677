"""Sandboxed execution of model-written programs: the outcome reward R_o and evaluation.

A trusted harness (worker.py) decides every verdict and runs neither the program nor a problem's
own code: the program runs in a jailed runner (child.py) and returns exact builtin values only
(codec.py); test code runs in a second jailed runner (checker.py); "unittest" tests run next to
the program, in its jail. Per worker: user/pid/mount/ipc/net/uts namespaces, read-only mounts,
empty /proc and /dev/shm, a pids cgroup (max_processes + 12) where writable. Per program: pid 1
of a fresh pid namespace (nothing outlives it), own mount/ipc namespaces with a fresh tmpfs /tmp,
no capabilities, minimal env, rlimits, SIGKILL at wall-clock limits; jobs never overlap.
Modes (modes.py; "auto" = bwrap, else unshare, never none): "bwrap" also jails the worker
(read-only root of /usr, libs, Python, pgrpo; --clearenv; uid 1000); "unshare": programs can
read host files the trainer's uid can read; "none" (explicit only): rlimits, scrubbed env and
wall-clock kills only (setsid escapes the group kill).

Does NOT protect against: kernel exploits; side channels and CPU/memory-bandwidth contention;
memory summed over a program's processes (RLIMIT_AS is per process); a fork bomb as host root
where no pids cgroup is writable (only the wall-clock kill bounds it); DoS through kernel
resources rlimits do not cover. A program's default-action signals to itself are ignored (pid 1).
Programs run as host root in "unshare"/"none" are only as contained as those modes say.
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
    """A client of the config's `url` services (pgrpo.sandbox.remote), else a local pool."""
    from pgrpo.sandbox.pool import Sandbox
    from pgrpo.sandbox.settings import SandboxConfig

    config = config or SandboxConfig()
    if config.urls:
        from pgrpo.sandbox.remote import RemoteSandbox

        return RemoteSandbox(config.urls, config)
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
