"""Why the sandbox jail cannot start on this host, and the two ways to fix it.

Owns `diagnose_jail` (reads /proc under a `root`, so tests point it at a fake tree) and its typed
result `JailDiagnosis`, whose `message()` is what the IsolationError of `pgrpo.sandbox.modes`
says when neither bubblewrap nor unshare works (its causes also tell, in the unshare fallback's
warning, why bubblewrap did not). Causes it can name, each with the evidence read and the
setting that lifts it:

- bubblewrap not installed (no `bwrap` on PATH);
- user namespaces off: `/proc/sys/user/max_user_namespaces` 0, or the Debian/older-Ubuntu
  `/proc/sys/kernel/unprivileged_userns_clone` 0;
- AppArmor restricting unprivileged user namespaces (`/proc/sys/kernel/apparmor_restrict_
  unprivileged_userns` 1, Ubuntu 24.04's default), or this process confined by an AppArmor
  profile (Docker's `docker-default` denies mount);
- bubblewrap unable to mount a fresh /proc because parts of /proc are masked (Docker's and
  containerd's default masked paths: /proc/acpi, /proc/kcore, ...; the kernel refuses a new proc
  mount in a user namespace while locked mounts cover parts of the old one); the unshare
  fallback needs none;
- a seccomp filter on this process (`/proc/self/status` `Seccomp: 2`): the Docker/containerd/
  Kubernetes default profile refuses unshare/clone with CLONE_NEWUSER (and mount, setns) to a
  process without CAP_SYS_ADMIN;
- not enough privileges: the probes were refused (EPERM) and nothing above explains it.

The fixes are always both: the container or host settings that allow the jail
(docs/clusters.md), or `pgrpo sandbox serve` on a host that allows it plus `sandbox.url`.
Reads files only; never raises.

Does NOT protect against anything: it explains why the jail could not start; it never starts
one, and a cause it cannot see (e.g. an LSM other than AppArmor) is reported as privileges.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

CAP_SYS_ADMIN = 21
# How a refused namespace shows in the probes' errors (Python's OSError, bwrap's messages).
REFUSED = ("operation not permitted", "permission denied", "no permissions", "eperm", "[errno 1]")
# An AppArmor label as /proc/self/attr/current shows it ("docker-default (enforce)"); an SELinux
# context ("system_u:system_r:container_t:s0") looks different and is not read as one.
_APPARMOR_LABEL = re.compile(r"^(\S+) \((enforce|complain|kill|user|prompt)\)$")

SECCOMP_FIX = ("docker/podman: `--security-opt seccomp=unconfined` (or a seccomp profile that allows unshare, "
               "clone/clone3 with namespace flags, setns, mount, umount2, pivot_root); Kubernetes: "
               "`securityContext: {seccompProfile: {type: Unconfined}}` (or a Localhost profile allowing those calls)")
PROC_MASK_FIX = ("docker/podman: `--security-opt systempaths=unconfined`; Kubernetes: `securityContext: "
                 "{procMount: Unmasked}` (a user-namespaced pod: `hostUsers: false`)")
APPARMOR_PROFILE_FIX = ("docker/podman: `--security-opt apparmor=unconfined`; Kubernetes: `securityContext: "
                        "{appArmorProfile: {type: Unconfined}}` (1.30+; before: the annotation "
                        "`container.apparmor.security.beta.kubernetes.io/CONTAINER: unconfined`)")


@dataclass(frozen=True)
class Cause:
    """One reason the jail cannot start: what was read, and the setting that lifts it."""

    name: str
    evidence: str
    fix: str


@dataclass(frozen=True)
class JailDiagnosis:
    """Everything found: the causes (most specific first), the probes' own errors, the container."""

    causes: tuple[Cause, ...]
    probe_errors: tuple[tuple[str, str], ...]  # (mode, last line of its error)
    container: str | None  # what says this is a container, if anything

    def message(self) -> str:
        lines = []
        if self.container:
            lines.append(f"this looks like a container ({self.container})")
        if self.causes:
            lines.append("cause found:" if len(self.causes) == 1 else "causes found:")
            for cause in self.causes:
                lines.append(f"  - {cause.name}: {cause.evidence}\n      fix: {cause.fix}")
        else:
            lines.append("no known restriction found in /proc (seccomp, user-namespace sysctls, AppArmor); "
                         "the probes' own errors are below")
        for mode, error in self.probe_errors:
            lines.append(f"  {mode} probe: {error}")
        settings = "the settings above; " if self.causes else ""
        lines.append(f"Two fixes: (1) container/host settings that let the jail start where training runs "
                     f"({settings}docs/clusters.md: docker flags, a pod securityContext, the sysctls); or (2) run "
                     "`pgrpo sandbox serve` on a host where the jail works and point `sandbox.url` (or "
                     "--sandbox-url) at it")
        return "\n".join(lines)


def _read(root: str, path: str) -> str | None:
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _sysctl(root: str, path: str) -> int | None:
    text = _read(root, path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _status(root: str) -> dict[str, str]:
    fields = {}
    for line in (_read(root, "/proc/self/status") or "").splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _has_sys_admin(status: Mapping[str, str]) -> bool | None:
    try:
        return bool(int(status["CapEff"], 16) >> CAP_SYS_ADMIN & 1)
    except (KeyError, ValueError):
        return None


def _userns_causes(root: str) -> list[Cause]:
    causes = []
    if _sysctl(root, "/proc/sys/user/max_user_namespaces") == 0:
        causes.append(Cause(
            "user namespaces off", "/proc/sys/user/max_user_namespaces is 0",
            "on the host (the kernel's setting, not the container's): `sysctl -w user.max_user_namespaces=15000` "
            "(persist it in /etc/sysctl.d/)"))
    if _sysctl(root, "/proc/sys/kernel/unprivileged_userns_clone") == 0:
        causes.append(Cause(
            "unprivileged user namespaces off", "/proc/sys/kernel/unprivileged_userns_clone is 0 (Debian/Ubuntu kernels)",
            "on the host: `sysctl -w kernel.unprivileged_userns_clone=1` (persist it in /etc/sysctl.d/)"))
    return causes


def _apparmor_causes(root: str) -> list[Cause]:
    causes = []
    if _sysctl(root, "/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1:
        causes.append(Cause(
            "AppArmor restricts unprivileged user namespaces",
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10+ and 24.04's default)",
            "on the host: `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (persist it in "
            "/etc/sysctl.d/), or an AppArmor profile granting `userns,` to bwrap and python"))
    label = _read(root, "/proc/self/attr/apparmor/current") or _read(root, "/proc/self/attr/current") or ""
    match = _APPARMOR_LABEL.match(label)
    if match and match.group(1) != "unconfined":
        causes.append(Cause(
            "AppArmor profile on this process",
            f"/proc/self/attr/current is {label!r} (Docker's docker-default profile denies mount)",
            APPARMOR_PROFILE_FIX))
    return causes


def _proc_mask_cause(root: str, bwrap_error: str) -> Cause | None:
    """bwrap could not mount its /proc: name what covers parts of the old one."""
    if "proc" not in bwrap_error:
        return None
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
                 PROC_MASK_FIX)


def _seccomp_cause(status: Mapping[str, str]) -> Cause | None:
    if status.get("Seccomp") != "2":
        return None
    filters = status.get("Seccomp_filters")
    evidence = "/proc/self/status: Seccomp: 2 (a seccomp filter is active" + (f", {filters} filter(s))" if filters else ")")
    if _has_sys_admin(status) is False:
        evidence += ", without CAP_SYS_ADMIN: the default Docker/containerd profile then refuses unshare/clone with " \
                    "CLONE_NEWUSER"
    return Cause("seccomp filter (likely)", evidence, SECCOMP_FIX)


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
    status = _status(root)
    causes: list[Cause] = []
    if bwrap is None:
        causes.append(Cause("bubblewrap not installed", "no `bwrap` on PATH",
                            "install it in the image (`apt-get install bubblewrap`, `dnf install bubblewrap`); "
                            "without it the fallback (unshare) must work"))
    causes += _userns_causes(root)
    causes += _apparmor_causes(root)
    masked = _proc_mask_cause(root, errors.get("bwrap", ""))
    if masked is not None:
        causes.append(masked)
    seccomp = _seccomp_cause(status)
    if seccomp is not None:
        causes.append(seccomp)
    explained = any(c.name != "bubblewrap not installed" for c in causes)
    refused = any(any(word in e.lower() for word in REFUSED) for e in errors.values())
    if refused and not explained:
        admin = _has_sys_admin(status)
        causes.append(Cause(
            "not enough privileges",
            "the kernel refused to create namespaces (EPERM) and no sysctl, seccomp filter or AppArmor profile "
            "in /proc explains it" + ("" if admin is None else f"; CAP_SYS_ADMIN {'held' if admin else 'not held'}"),
            "a runtime may forbid namespaces another way (a chroot, gVisor, a PodSecurity/SCC policy): run the "
            "container with user namespaces allowed (e.g. `--cap-add SYS_ADMIN` together with the seccomp and "
            "AppArmor settings, or a privileged container)"))
    return JailDiagnosis(tuple(causes), tuple(sorted(errors.items())),
                         _container(root, os.environ if environ is None else environ))
