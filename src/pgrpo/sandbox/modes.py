"""Isolation modes: how a sandbox worker is launched, which mode works on this host.

Owns WORKER_LAUNCHERS (isolation mode -> worker command line), WORKER_ENV (the
workers' whole environment: scrubbed, numeric libraries single-threaded), the probes, and
`resolve_isolation`: "auto" is bwrap, else unshare, and NEVER none - if neither works it is
an IsolationError naming the cause found (`pgrpo.sandbox.diagnose`: seccomp, user namespaces
off, AppArmor, no bwrap, privileges; the probes' own errors, kept in PROBE_ERRORS) and the
options (container settings that allow the jail, a sandbox service where it works, or the
explicit `isolation: none`). An explicit mode is probed and refused the same way if it does not
work (rather than failing every job as sandbox_error). A mode weaker than bwrap prints, once,
what it leaves unprotected (FALLBACK_GAPS).

Does NOT protect against anything itself: it chooses the jail; see pgrpo.sandbox for what
each mode isolates.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable

import pgrpo
from pgrpo.sandbox.diagnose import diagnose_jail
from pgrpo.sandbox.types import IsolationError

_SRC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(pgrpo.__file__)))


def _worker_argv(isolate: bool) -> list[str]:
    boot = (f"import sys; sys.path.insert(0, {_SRC_DIR!r}); from pgrpo.sandbox.worker import main; "
            f"sys.exit(main({isolate!r}))")
    # sys.executable as is, not its realpath: a venv's bin/python is a symlink, and only through
    # it does Python find the venv's pyvenv.cfg (so the programs see the venv's libraries).
    return [sys.executable, "-I", "-c", boot]


# Numeric libraries run single-threaded: one worker = one CPU (see pgrpo.sandbox.resources).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}
WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
              **SINGLE_THREAD_ENV}

# What each fallback mode leaves unprotected (the one loud warning names it).
FALLBACK_GAPS = {
    "unshare": "bubblewrap unavailable: the trusted harness/worker runs on the host (not jailed); jobs still get "
               "user/pid/mount/net/ipc namespaces, a read-only host filesystem and rlimits, but host files the "
               "worker's uid can read stay readable by programs",
    "none": "set explicitly (`isolation: none`): programs can read and write any host file the trainer's uid can, use the "
            "network, see other processes and escape the process-group kill with setsid; only rlimits, a scrubbed "
            "environment and wall-clock kills apply",
}

def _python_prefixes() -> list[str]:
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return sorted(paths)


def _bwrap_command() -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
           "--uid", "1000", "--gid", "1000", "--hostname", "sandbox",
           # tmpfs first: binds below then land on top of it, so a checkout or Python prefix
           # that lives under /tmp stays visible (a later --tmpfs /tmp would hide it).
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime",
                 "/etc/alternatives", "/etc/ssl", *_python_prefixes(), _SRC_DIR):
        if os.path.lexists(path):
            cmd += ["--ro-bind", path, path] if not os.path.islink(path) else ["--symlink", os.readlink(path), path]
    cmd += ["--remount-ro", "/", "--chdir", "/tmp"]
    for key, value in WORKER_ENV.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *_worker_argv(True)]


def _unshare_command() -> list[str]:
    return _worker_argv(True)


def _plain_command() -> list[str]:
    return _worker_argv(False)


WORKER_LAUNCHERS: dict[str, Callable[[], list[str]]] = {
    "bwrap": _bwrap_command, "unshare": _unshare_command, "none": _plain_command}


_warned: set[str] = set()


# mode -> the last line of its failed probe's error (what the IsolationError quotes).
PROBE_ERRORS: dict[str, str] = {}


def _probe(mode: str, cmd: list[str]) -> bool:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=20, env=WORKER_ENV)
    except subprocess.TimeoutExpired:
        PROBE_ERRORS[mode] = "timed out after 20 s"
        return False
    except OSError as exc:
        PROBE_ERRORS[mode] = str(exc)
        return False
    if proc.returncode == 0:
        return True
    lines = [line.strip() for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    PROBE_ERRORS[mode] = (lines[-1][:300] if lines else "no message") + f" (exit status {proc.returncode})"
    return False


@functools.cache
def bwrap_works() -> bool:
    """bubblewrap is installed and can build the workers' jail here (probed once per process):
    the launcher's own command with /bin/true for the worker, so a jail that cannot mount what a
    worker gets (a fresh /proc, refused where parts of /proc are masked, as in Docker) fails here
    rather than in every worker."""
    if not shutil.which("bwrap"):
        PROBE_ERRORS["bwrap"] = "no `bwrap` on PATH"
        return False
    jail = _bwrap_command()
    return _probe("bwrap", [*jail[:jail.index("--")], "--", "/bin/true"])


@functools.cache
def unshare_works() -> bool:
    """This process may build the worker's own namespaces (probed once per process)."""
    code = ("from pgrpo.sandbox import isolation; import os; isolation.enter_worker_namespaces(); "
            "isolation.seal_worker_filesystem(); isolation.unshare(isolation.CLONE_NEWNS)")
    return _probe("unshare", [sys.executable, "-c", f"import sys; sys.path.insert(0, {_SRC_DIR!r}); {code}"])


PROBES: dict[str, Callable[[], bool]] = {"bwrap": lambda: bwrap_works(), "unshare": lambda: unshare_works(),
                                         "none": lambda: True}
NO_NAMESPACES = ("no isolation works here: bubblewrap {bwrap} and unprivileged user namespaces (unshare) are "
                 "blocked (common in containers on GPU clusters). Model-written code is never run unjailed "
                 "silently.\n{diagnosis}\nOr accept running programs unjailed on this host with the explicit "
                 "`isolation: none` (--sandbox-isolation none)")


def _diagnosis(modes: tuple[str, ...]) -> str:
    errors = {m: PROBE_ERRORS[m] for m in modes if m in PROBE_ERRORS}
    return diagnose_jail("/", shutil.which("bwrap"), errors).message()


def resolve_isolation(mode: str) -> str:
    """The mode to run: "auto" -> bwrap, else unshare, else IsolationError (never "none"); an
    explicit mode is probed and must work. Either error names the cause found and the fixes.
    Fallbacks print what they leave unprotected, once."""
    if mode == "auto":
        mode = next((m for m in ("bwrap", "unshare") if PROBES[m]()), "")
        if not mode:
            found = "fails to start" if shutil.which("bwrap") else "is not installed"
            raise IsolationError("sandbox.isolation: auto: " + NO_NAMESPACES.format(
                bwrap=found, diagnosis=_diagnosis(("bwrap", "unshare"))))
    elif not PROBES[mode]():
        raise IsolationError(f"sandbox.isolation: {mode!r} does not work on this host (its probe failed); "
                             "use `isolation: auto`, or a sandbox service (`sandbox.url`) where it works.\n"
                             + _diagnosis((mode,)))
    if mode != "bwrap" and mode not in _warned:
        _warned.add(mode)
        msg = f"pgrpo sandbox running in isolation={mode!r}: {FALLBACK_GAPS[mode]}"
        if mode == "unshare" and "bwrap" in PROBE_ERRORS:  # why not bwrap, and what would allow it
            causes = diagnose_jail("/", shutil.which("bwrap"), {"bwrap": PROBE_ERRORS["bwrap"]}).causes
            msg += "".join(f". Cause: {c.name}: {c.evidence}; fix: {c.fix}" for c in causes) or \
                f". bwrap probe: {PROBE_ERRORS['bwrap']}"
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        print(f"WARNING: {msg}", file=sys.stderr)
    return mode
