"""Linux primitives the per-job jail is built from (namespaces, mounts, capabilities, rlimits).

Owns thin ctypes wrappers over unshare(2), mount(2), prctl(2) and capset(2), plus
`enter_job_namespaces` (fresh user+pid+mount+ipc+net+uts namespaces for one job),
`seal_filesystem` (every inherited mount read-only, fresh private tmpfs for /tmp and
/dev/shm, an empty read-only /proc) and `drop_privileges` (no capabilities, no new
privileges, rlimits). Used only inside forked job processes (see child.py).

Does NOT protect against: kernel bugs in these namespaces, or anything the kernel lets an
unprivileged uid do inside them (CPU use up to the rlimit, timing side channels).
"""

from __future__ import annotations

import ctypes
import os
import resource
from dataclasses import dataclass

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

_LAST_CAP = 63


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                    ctypes.c_ulong(flags), data.encode() if data else None),
        f"mount {target}",
    )


def enter_job_namespaces() -> None:
    """unshare into fresh user/pid/mount/ipc/net/uts namespaces, same uid inside.

    The pid namespace applies to the *next* fork: that child becomes its pid 1, and when it
    exits the kernel kills every process left in the namespace (setsid daemons included).
    """
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS),
           "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    # octal escapes (\040 for space) are kept as-is: such mounts are skipped below
    return points


def seal_filesystem(scratch_mb: int) -> None:
    """Make the inherited filesystem read-only; give this job fresh tmpfs scratch space.

    Must run inside the job's own mount namespace (after enter_job_namespaces + fork).
    """
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    for point in reversed(_mount_points()):
        if "\\" in point:
            continue
        try:
            mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
        except OSError:
            # Mounts already locked read-only (or with flags we cannot change) stay as they are.
            continue
    opts = f"size={scratch_mb}m,mode=1777,nr_inodes=4096"
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    if os.path.isdir("/dev/shm"):
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    # Hide every process (the harness, the worker) and their environ/mem: an empty /proc.
    mount("tmpfs", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Empty bounding, effective, permitted and inheritable sets; no new privileges."""
    for cap in range(_LAST_CAP + 1):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            break  # past the kernel's last capability (EINVAL) or not permitted
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one job's processes."""

    memory_bytes: int
    cpu_seconds: int
    max_processes: int
    file_bytes: int


def apply_rlimits(limits: Limits) -> None:
    """Set rlimits (hard = soft, so the program cannot raise them)."""
    settings = (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_NPROC, limits.max_processes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, 256),
    )
    for key, value in settings:
        try:
            resource.setrlimit(key, (value, value))
        except (ValueError, OSError):
            # Cannot raise a hard limit the worker already lowered: keep the lower one.
            soft, hard = resource.getrlimit(key)
            resource.setrlimit(key, (min(value, hard), hard))
