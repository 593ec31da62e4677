"""How many sandbox workers this process should run: CPU affinity, cgroup CPU quota, local ranks.

Owns `available_cpus()` (the CPUs this process may really use: `os.sched_getaffinity`, capped
by a cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us` quota on its own cgroup or any ancestor)
and `default_workers()` (that, divided among the ranks of this node (`local_ranks`), at
least 1) - what `SandboxConfig(workers=0)` means. Several ranks each starting
`os.cpu_count()` workers oversubscribe the node, and wall-clock limits then turn contention
into false timeouts (R_o = 0). Reads only /proc and /sys; never raises.
"""

from __future__ import annotations

import math
import os

CGROUP_ROOT = "/sys/fs/cgroup"


def _affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def _v2_quota(rel: str, root: str) -> float | None:
    """The tightest `cpu.max` quota (in CPUs) on the cgroup `rel` and its ancestors."""
    best: float | None = None
    parts = [p for p in rel.strip("/").split("/") if p]
    for depth in range(len(parts), -1, -1):
        text = _read(os.path.join(root, *parts[:depth], "cpu.max"))
        if not text:
            continue
        quota, _, period = text.partition(" ")
        if quota != "max" and period:
            try:
                cpus = int(quota) / int(period)
            except (ValueError, ZeroDivisionError):
                continue
            best = cpus if best is None else min(best, cpus)
    return best


def _v1_quota(rel: str, root: str) -> float | None:
    for base in (os.path.join(root, "cpu,cpuacct"), os.path.join(root, "cpu")):
        for path in (os.path.join(base, rel.lstrip("/")), base):
            quota, period = _read(os.path.join(path, "cpu.cfs_quota_us")), _read(os.path.join(path, "cpu.cfs_period_us"))
            if quota and period:
                try:
                    q, p = int(quota), int(period)
                except ValueError:
                    continue
                if q > 0 and p > 0:
                    return q / p
    return None


def cgroup_cpu_quota(proc_cgroup: str = "/proc/self/cgroup", root: str = CGROUP_ROOT) -> float | None:
    """The CPU quota (in CPUs, may be fractional) of this process's cgroup; None if unlimited."""
    text = _read(proc_cgroup)
    if not text:
        return None
    for line in text.splitlines():
        _, controllers, rel = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            quota = _v2_quota(rel, root)
            if quota is not None:
                return quota
        elif "cpu" in controllers.split(","):
            quota = _v1_quota(rel, root)
            if quota is not None:
                return quota
    return None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by its cgroup quota (at least 1)."""
    cpus = _affinity_cpus()
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


# Where launchers put the number of processes on this node: torchrun/accelerate, Open MPI,
# MVAPICH2, and Slurm's srun starting each rank itself (one value per node, e.g. "8" or "8(x2)").
LOCAL_SIZE_VARIABLES = ("LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE",
                        "SLURM_NTASKS_PER_NODE")


def local_ranks() -> int:
    """Training processes on this node (the first of LOCAL_SIZE_VARIABLES set; 1 outside launchers)."""
    for name in LOCAL_SIZE_VARIABLES:
        value = os.environ.get(name, "").split("(")[0].split(",")[0].strip()
        if value.isdigit():
            return max(1, int(value))
    return 1


def default_workers() -> int:
    """`workers: 0`: this rank's share of the node's usable CPUs, at least 1."""
    return max(1, available_cpus() // local_ranks())
