"""Isolation modes: the worker's command line per mode (`worker_command`), which mode works here
(`resolve_isolation`: "auto" = bwrap, else unshare, NEVER none), and why the jail cannot start
(`diagnose_jail`: reads /proc under `root`, never raises; the error names the cause and both fixes:
container/host settings (docs/clusters.md) or `pgrpo sandbox serve` + `sandbox.url`).

Does NOT protect against anything itself: it chooses the jail (see pgrpo.sandbox for what each mode
isolates); a cause the diagnosis cannot see (e.g. an LSM other than AppArmor) is reported as privileges.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pgrpo
from pgrpo.sandbox.isolation import BASE_ENV, CAP_SYS_ADMIN
from pgrpo.sandbox.resources import read_text
from pgrpo.sandbox.types import IsolationError

_SRC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(pgrpo.__file__)))
WORKER_ENV = {**BASE_ENV, "PYTHONDONTWRITEBYTECODE": "1"}

# What each fallback mode leaves unprotected (the one loud warning names it).
FALLBACK_GAPS = {
    "unshare": "bubblewrap unavailable: the trusted harness/worker runs on the host (not jailed); jobs still get "
               "user/pid/mount/net/ipc namespaces, a read-only host filesystem and rlimits, but host files the "
               "worker's uid can read stay readable by programs",
    "none": "set explicitly (`isolation: none`): programs can read and write any host file the trainer's uid can, use the "
            "network, see other processes and escape the process-group kill with setsid; only rlimits, a scrubbed "
            "environment and wall-clock kills apply",
}


def _worker_argv(isolate: bool) -> list[str]:
    boot = (f"import sys; sys.path.insert(0, {_SRC_DIR!r}); from pgrpo.sandbox.worker import main; "
            f"sys.exit(main({isolate!r}))")
    # sys.executable as is, not its realpath: a venv's bin/python is a symlink, and only through
    # it does Python find the venv's pyvenv.cfg (so the programs see the venv's libraries).
    return [sys.executable, "-I", "-c", boot]


def worker_command(mode: str) -> list[str]:
    """The command line of a worker in isolation `mode` (bwrap, unshare or none)."""
    if mode != "bwrap":
        return _worker_argv(mode != "none")
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
           "--uid", "1000", "--gid", "1000", "--hostname", "sandbox",
           # tmpfs first: binds below then land on top of it, so a checkout or Python prefix
           # that lives under /tmp stays visible (a later --tmpfs /tmp would hide it).
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    prefixes = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime",
                 "/etc/alternatives", "/etc/ssl", *prefixes, _SRC_DIR):
        if os.path.lexists(path):
            cmd += ["--ro-bind", path, path] if not os.path.islink(path) else ["--symlink", os.readlink(path), path]
    cmd += ["--remount-ro", "/", "--chdir", "/tmp"]
    for key, value in WORKER_ENV.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *_worker_argv(True)]


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
    """bubblewrap can build the workers' jail here (probed once per process, with /bin/true for the
    worker: a jail that cannot mount a fresh /proc, as in Docker, fails here, not in every worker)."""
    if not shutil.which("bwrap"):
        PROBE_ERRORS["bwrap"] = "no `bwrap` on PATH"
        return False
    jail = worker_command("bwrap")
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


# -- diagnosis -----------------------------------------------------------------------------
# How a refused namespace shows in the probes' errors (Python's OSError, bwrap's messages).
REFUSED = ("operation not permitted", "permission denied", "no permissions", "eperm", "[errno 1]")
# An AppArmor label as /proc/self/attr/current shows it ("docker-default (enforce)"); an SELinux
# context ("system_u:system_r:container_t:s0") looks different and is not read as one.
_APPARMOR_LABEL = re.compile(r"^(\S+) \((enforce|complain|kill|user|prompt)\)$")


@dataclass(frozen=True)
class Cause:
    """One reason the jail cannot start: what was read, and the setting that lifts it."""

    name: str
    evidence: str
    fix: str


@dataclass(frozen=True)
class JailDiagnosis:
    """The causes (most specific first), the probes' own errors (mode, last line), the container."""

    causes: tuple[Cause, ...]
    probe_errors: tuple[tuple[str, str], ...]
    container: str | None  # what says this is a container, if anything

    def message(self) -> str:
        lines = [f"this looks like a container ({self.container})"] if self.container else []
        if self.causes:
            lines.append("cause found:" if len(self.causes) == 1 else "causes found:")
            lines += [f"  - {cause.name}: {cause.evidence}\n      fix: {cause.fix}" for cause in self.causes]
        else:
            lines.append("no known restriction found in /proc (seccomp, user-namespace sysctls, AppArmor); "
                         "the probes' own errors are below")
        lines += [f"  {mode} probe: {error}" for mode, error in self.probe_errors]
        settings = "the settings above; " if self.causes else ""
        lines.append(f"Two fixes: (1) container/host settings that let the jail start where training runs "
                     f"({settings}docs/clusters.md: docker flags, a pod securityContext, the sysctls); or (2) run "
                     "`pgrpo sandbox serve` on a host where the jail works and point `sandbox.url` (or "
                     "--sandbox-url) at it")
        return "\n".join(lines)


# (sysctl, the value that blocks the jail, cause, evidence note, fix)
_SYSCTL_CAUSES = (
    ("/proc/sys/user/max_user_namespaces", 0, "user namespaces off", "",
     "on the host (the kernel's setting, not the container's): `sysctl -w user.max_user_namespaces=15000` "
     "(persist it in /etc/sysctl.d/)"),
    ("/proc/sys/kernel/unprivileged_userns_clone", 0, "unprivileged user namespaces off",
     " (Debian/Ubuntu kernels)",
     "on the host: `sysctl -w kernel.unprivileged_userns_clone=1` (persist it in /etc/sysctl.d/)"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", 1,
     "AppArmor restricts unprivileged user namespaces", " (Ubuntu 23.10+ and 24.04's default)",
     "on the host: `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (persist it in "
     "/etc/sysctl.d/), or an AppArmor profile granting `userns,` to bwrap and python"),
)


def _read(root: str, path: str) -> str | None:
    return read_text(os.path.join(root, path.lstrip("/")))


def _sysctl(root: str, path: str) -> int | None:
    text = _read(root, path) or ""
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else None


def _proc_mask_cause(root: str, bwrap_error: str) -> Cause:
    """bwrap could not mount its /proc: name what covers parts of the old one."""
    masks = []
    for line in (_read(root, "/proc/self/mountinfo") or "").splitlines():
        fields = line.split()
        # binfmt_misc sits on a permanently empty directory, which the kernel does not count
        if len(fields) > 4 and fields[4].startswith("/proc/") and fields[4] != "/proc/sys/fs/binfmt_misc":
            masks.append(fields[4])
    evidence = f"bwrap: {bwrap_error!r}"
    if masks:
        shown = ", ".join(masks[:4]) + (f" and {len(masks) - 4} more" if len(masks) > 4 else "")
        evidence += f"; /proc/self/mountinfo: {len(masks)} mount(s) over parts of /proc ({shown})"
    return Cause("parts of /proc masked", evidence + " (the unshare fallback does not need a fresh /proc)",
                 "docker/podman: `--security-opt systempaths=unconfined`; Kubernetes: `securityContext: "
                 "{procMount: Unmasked}` (a user-namespaced pod: `hostUsers: false`)")


def _container(root: str, environ: Mapping[str, str]) -> str | None:
    if "KUBERNETES_SERVICE_HOST" in environ:
        return "KUBERNETES_SERVICE_HOST is set"
    for marker in ("/.dockerenv", "/run/.containerenv"):
        if os.path.exists(os.path.join(root, marker.lstrip("/"))):
            return f"{marker} exists"
    return None


def diagnose_jail(root: str = "/", bwrap: str | None = None, probe_errors: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None) -> JailDiagnosis:
    """Why the jail cannot start: /proc read under `root`, `bwrap` = its path (None: not on PATH),
    `probe_errors` = mode -> the last line of its failed probe."""
    errors = dict(probe_errors or {})
    status = dict(line.partition(":")[::2] for line in (_read(root, "/proc/self/status") or "").splitlines())
    status = {key.strip(): value.strip() for key, value in status.items()}
    causes: list[Cause] = []
    if bwrap is None:
        causes.append(Cause("bubblewrap not installed", "no `bwrap` on PATH",
                            "install it in the image (`apt-get install bubblewrap`, `dnf install bubblewrap`); "
                            "without it the fallback (unshare) must work"))
    for path, value, name, note, fix in _SYSCTL_CAUSES:
        if _sysctl(root, path) == value:
            causes.append(Cause(name, f"{path} is {value}{note}", fix))
    label = _read(root, "/proc/self/attr/apparmor/current") or _read(root, "/proc/self/attr/current") or ""
    match = _APPARMOR_LABEL.match(label)
    if match and match.group(1) != "unconfined":
        causes.append(Cause(
            "AppArmor profile on this process",
            f"/proc/self/attr/current is {label!r} (Docker's docker-default profile denies mount)",
            "docker/podman: `--security-opt apparmor=unconfined`; Kubernetes: `securityContext: "
            "{appArmorProfile: {type: Unconfined}}` (1.30+; before: the annotation "
            "`container.apparmor.security.beta.kubernetes.io/CONTAINER: unconfined`)"))
    if "proc" in errors.get("bwrap", ""):
        causes.append(_proc_mask_cause(root, errors["bwrap"]))
    try:
        admin: bool | None = bool(int(status["CapEff"], 16) >> CAP_SYS_ADMIN & 1)
    except (KeyError, ValueError):
        admin = None
    if status.get("Seccomp") == "2":
        filters = status.get("Seccomp_filters")
        evidence = "/proc/self/status: Seccomp: 2 (a seccomp filter is active" + (
            f", {filters} filter(s))" if filters else ")")
        if admin is False:
            evidence += (", without CAP_SYS_ADMIN: the default Docker/containerd profile then refuses "
                         "unshare/clone with CLONE_NEWUSER")
        causes.append(Cause(
            "seccomp filter (likely)", evidence,
            "docker/podman: `--security-opt seccomp=unconfined` (or a seccomp profile that allows unshare, "
            "clone/clone3 with namespace flags, setns, mount, umount2, pivot_root); Kubernetes: "
            "`securityContext: {seccompProfile: {type: Unconfined}}` (or a Localhost profile allowing those "
            "calls)"))
    explained = any(c.name != "bubblewrap not installed" for c in causes)
    refused = any(any(word in e.lower() for word in REFUSED) for e in errors.values())
    if refused and not explained:
        causes.append(Cause(
            "not enough privileges",
            "the kernel refused to create namespaces (EPERM) and no sysctl, seccomp filter or AppArmor profile "
            "in /proc explains it" + ("" if admin is None else f"; CAP_SYS_ADMIN {'held' if admin else 'not held'}"),
            "a runtime may forbid namespaces another way (a chroot, gVisor, a PodSecurity/SCC policy): run the "
            "container with user namespaces allowed (e.g. `--cap-add SYS_ADMIN` together with the seccomp and "
            "AppArmor settings, or a privileged container)"))
    return JailDiagnosis(tuple(causes), tuple(sorted(errors.items())),
                         _container(root, os.environ if environ is None else environ))
