"""How many sandbox workers this process should run (`default_workers`, what `workers: 0` means): the
CPUs it may really use (affinity capped by its cgroup CPU quota), divided among this node's ranks, so
ranks do not oversubscribe the node (contention would turn into false timeouts). Reads /proc and /sys only.
"""

from __future__ import annotations

import math
import os

CGROUP_ROOT = "/sys/fs/cgroup"


def read_text(path: str) -> str | None:
    """The stripped text of a /proc, /sys or cgroup file; None where it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _cpus(quota: str | None, period: str | None) -> float | None:
    """CPUs of a quota/period pair; None if unlimited ("max", -1) or unreadable."""
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_quota(proc_cgroup: str = "/proc/self/cgroup", root: str = CGROUP_ROOT) -> float | None:
    """The CPU quota (in CPUs, may be fractional) of this process's cgroup: the tightest v2 `cpu.max` on
    it and its ancestors, else the v1 `cpu.cfs_quota_us`; None if unlimited."""
    for line in (read_text(proc_cgroup) or "").splitlines():
        _, controllers, rel = (line.split(":", 2) + ["", ""])[:3]
        parts = [p for p in rel.strip("/").split("/") if p]
        pairs: list[tuple[str | None, ...]]
        if controllers == "":
            pairs = [(read_text(os.path.join(root, *parts[:depth], "cpu.max")) or "").partition(" ")[::2]
                     for depth in range(len(parts), -1, -1)]
        elif "cpu" in controllers.split(","):
            dirs = [os.path.join(root, base, *sub) for base in ("cpu,cpuacct", "cpu") for sub in (parts, [])]
            pairs = [(read_text(os.path.join(d, "cpu.cfs_quota_us")),
                      read_text(os.path.join(d, "cpu.cfs_period_us")))
                     for d in dirs]
        else:
            continue
        quotas = [cpus for cpus in (_cpus(*pair) for pair in pairs) if cpus is not None]
        if quotas:
            return min(quotas) if controllers == "" else quotas[0]
    return None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by its cgroup quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, cpus if quota is None else min(cpus, math.ceil(quota)))


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
