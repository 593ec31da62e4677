"""Linux primitives the jails are built from: ctypes unshare/setns/mount/prctl/capset, the worker's
namespaces and sealed read-only filesystem, a job's mounts, capability drops, rlimits, `PidsCgroup`.

Does NOT protect against: kernel bugs in these namespaces, or anything the kernel lets an
unprivileged uid do inside them (CPU use up to the rlimit, timing side channels).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import resource
import sys
from typing import NamedTuple

from pgrpo.sandbox.resources import read_text

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
# What workers and programs start from (PATH, HOME, LANG); numeric libraries run single-threaded: one
# worker = one CPU (see pgrpo.sandbox.resources).
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
            "VECLIB_MAXIMUM_THREADS": "1"}


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


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:  # message built only on failure: the spawner calls this per job
        _check(-1, f"unshare({flags:#x})")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def enter_worker_namespaces() -> None:
    """Once per worker: fresh user/pid/mount/ipc/net/uts namespaces, same uid inside: capabilities over
    its own namespaces only, a network whose loopback is down (none at all); pid: for the next fork."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def own_pid_namespace() -> int:
    """An fd on this pid namespace (restored after each job's fork); before /proc is sealed."""
    return os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    # mountinfo escapes space, tab, newline and backslash as octal (\040)
    return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), p) for p in points]


def seal_worker_filesystem() -> None:
    """Once per worker: every inherited mount read-only and private, an empty read-only /proc (no view of
    any process) and /dev/shm. Fails closed: a mount that stays writable is an OSError. A remount repeats
    the mount's locked flags (bwrap's /tmp and /dev carry nodev), or the kernel refuses it."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    for point in reversed(_mount_points()):
        try:
            flags = os.statvfs(point).f_flag
        except OSError:
            continue  # not reachable by its path (overmounted, or gone): nothing can write through it
        if flags & os.ST_RDONLY:
            continue
        try:
            mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
                  (flags & (os.ST_NODEV | os.ST_NOEXEC)))
        except OSError:
            pass
        if not os.statvfs(point).f_flag & os.ST_RDONLY:
            raise OSError(f"could not make {point} read-only for the sandbox")
    if os.path.isdir("/dev/shm"):
        mount("tmpfs", "/dev/shm", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
    mount("tmpfs", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
    _hide_socket_dirs()


def _hide_socket_dirs() -> None:
    """Empty read-only tmpfs over host Unix socket dirs (/run: D-Bus, docker.sock; /tmp: X11, agents): a
    read-only mount does not stop connect(), nor does the network namespace ("unshare" mode; bwrap mounts
    neither). /tmp is left when the Python prefix or pgrpo lives there."""
    needed = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.abspath(__file__)))]
    for point in ("/run", "/var/run", "/tmp"):
        if os.path.islink(point) or not os.path.isdir(point):
            continue
        if any(path == point or path.startswith(point + "/") for path in needed):
            continue
        mount("tmpfs", point, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")


def enter_job_mounts(scratch_mb: int) -> None:
    """Per job: own mount + ipc namespaces, fresh tmpfs /tmp (cwd, scratch_mb) and /dev/shm."""
    opts, has_shm = prepare_job_mounts(scratch_mb)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(job)")
    _check(_libc.mount(b"tmpfs", b"/tmp", b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), opts), "mount /tmp")
    if has_shm:
        _check(_libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), opts),
               "mount /dev/shm")


_job_mount_args: dict[int, tuple[bytes, bool]] = {}


def prepare_job_mounts(scratch_mb: int) -> tuple[bytes, bool]:
    """(tmpfs options, whether /dev/shm exists), computed by the spawner before it forks (page faults)."""
    args = _job_mount_args.get(scratch_mb)
    if args is None:
        args = _job_mount_args[scratch_mb] = (b"size=%dm,mode=1777,nr_inodes=4096" % scratch_mb,
                                              os.path.isdir("/dev/shm"))
    return args


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


# Arguments of capset(2) that empty every set, built once at import (before any fork).
_NO_CAPS = (ctypes.pointer(_CapHeader(0x20080522, 0)), ctypes.pointer((_CapData * 2)()))


def drop_bounding_set() -> None:
    """Empty the capability bounding set: no capability can ever be regained by exec."""
    for cap in range(_LAST_CAP + 1):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            break  # past the kernel's last capability (EINVAL) or not permitted


def drop_capabilities(bounding: bool = True) -> None:
    """Empty every capability set (the bounding set unless the spawner did); no new privileges."""
    if bounding:
        drop_bounding_set()
    _check(_libc.capset(*_NO_CAPS), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


CAP_SYS_ADMIN = 21
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2


def keep_sys_admin_across_exec() -> None:
    """Before exec'ing the spawner: CAP_SYS_ADMIN (over the worker's namespaces only, to build each job's)
    survives exec as an ambient capability; the bounding set is emptied, so no exec below gains anything."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), ctypes.byref(data)), "capget")
    data[0].inheritable = 1 << CAP_SYS_ADMIN
    data[1].inheritable = 0
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    _check(_libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_RAISE), ctypes.c_ulong(CAP_SYS_ADMIN), 0, 0),
           "prctl(PR_CAP_AMBIENT_RAISE)")
    drop_bounding_set()
    prctl(PR_SET_NO_NEW_PRIVS, 1)


class Limits(NamedTuple):
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


class PidsCgroup:
    """A worker's pids cgroup (pool.py): caps processes and threads, bounding a fork bomb even where
    RLIMIT_NPROC does not apply (host root). `create` returns None without a writable v1 `pids` or
    delegated v2 controller: then only the wall-clock kill stops a fork bomb."""

    _ids = itertools.count(1)

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def create(cls, limit: int) -> PidsCgroup | None:
        for base in _pids_bases():
            path = os.path.join(base, f"pgrpo-sandbox-{os.getpid()}-{next(cls._ids)}")
            try:
                os.mkdir(path)
            except OSError:
                continue
            try:
                with open(os.path.join(path, "pids.max"), "w") as f:
                    f.write(str(limit))
                return cls(path)
            except OSError:
                cls(path).remove()
        return None

    def wrap(self, cmd: list[str]) -> list[str]:
        """`cmd`, started inside this cgroup (a shell joins it, then execs cmd)."""
        procs = os.path.join(self.path, "cgroup.procs")
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *cmd]

    def remove(self) -> bool:
        try:
            os.rmdir(self.path)
            return True
        except FileNotFoundError:
            return True
        except OSError:  # still has exiting processes: retried by the owner later
            return False


def _pids_bases() -> list[str]:
    bases: list[str] = []
    for line in (read_text("/proc/self/cgroup") or "").splitlines():
        _, controllers, rel = line.split(":", 2)
        if "pids" in controllers.split(","):
            bases.append("/sys/fs/cgroup/pids" + rel)
        elif controllers == "":  # v2: usable only if our own cgroup delegates the pids controller
            if "pids" in (read_text(f"/sys/fs/cgroup{rel}/cgroup.subtree_control") or "").split():
                bases.append(f"/sys/fs/cgroup{rel}")
    return [b.rstrip("/") or "/" for b in bases if os.access(b, os.W_OK)]
