"""CPU-aware worker defaults, single-threaded programs, CPU-time limits, and isolation that never
silently degrades: "auto" is bwrap or unshare, never none; weaker than demanded is an error."""

from __future__ import annotations

import os

import pytest

from pgrpo.data.problem import Problem, StdioCase, TestKind, Tests
from pgrpo.sandbox import Job, Sandbox, SandboxConfig, modes, resources
from pgrpo.sandbox.types import IsolationError, check_isolation
from pgrpo.verify import Verifier


def test_workers_default_from_affinity_and_local_ranks(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(resources, "cgroup_cpu_quota", lambda: None)
    for name in resources.LOCAL_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert SandboxConfig().workers == 16
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert SandboxConfig().workers == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert SandboxConfig().workers == 1  # at least one
    assert SandboxConfig(workers=5).workers == 5  # an explicit count is kept
    monkeypatch.delenv("LOCAL_WORLD_SIZE")  # launchers that do not set it: MPI, srun per rank
    for name, value, workers in (("OMPI_COMM_WORLD_LOCAL_SIZE", "4", 4), ("MV2_COMM_WORLD_LOCAL_SIZE", "8", 2),
                                 ("SLURM_NTASKS_PER_NODE", "8(x2)", 2), ("SLURM_NTASKS_PER_NODE", "junk", 16)):
        monkeypatch.setenv(name, value)
        assert SandboxConfig().workers == workers, (name, value)
        monkeypatch.delenv(name)


def test_cgroup_quota_caps_the_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(resources, "cgroup_cpu_quota", lambda: 3.5)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resources.available_cpus() == 4 and SandboxConfig().workers == 2


@pytest.mark.parametrize("v2,v1,expected", [
    ("200000 100000", None, 2.0), ("max 100000", None, None), (None, ("150000", "100000"), 1.5),
    (None, ("-1", "100000"), None)])
def test_cgroup_quota_files(tmp_path, v2, v1, expected):
    proc = tmp_path / "cgroup"
    if v2 is not None:
        proc.write_text("0::/job\n")
        (tmp_path / "job").mkdir()
        (tmp_path / "job" / "cpu.max").write_text(v2)
    else:
        proc.write_text("4:cpu,cpuacct:/job\n")
        base = tmp_path / "cpu,cpuacct" / "job"
        base.mkdir(parents=True)
        (base / "cpu.cfs_quota_us").write_text(v1[0])
        (base / "cpu.cfs_period_us").write_text(v1[1])
    assert resources.cgroup_cpu_quota(str(proc), str(tmp_path)) == expected


def _no_probes(monkeypatch):
    monkeypatch.setitem(modes.PROBES, "bwrap", lambda: False)
    monkeypatch.setitem(modes.PROBES, "unshare", lambda: False)


def test_auto_never_resolves_to_none(monkeypatch):
    _no_probes(monkeypatch)
    with pytest.raises(IsolationError, match=r"(?s)sandbox serve.*isolation: none"):
        modes.resolve_isolation("auto")
    with pytest.raises(IsolationError):
        Sandbox(SandboxConfig(workers=1))


def test_explicit_mode_that_does_not_work_is_refused(monkeypatch):
    _no_probes(monkeypatch)
    with pytest.raises(IsolationError, match="'bwrap' does not work"):
        modes.resolve_isolation("bwrap")


def test_explicit_none_says_why_once(monkeypatch, capsys):
    _no_probes(monkeypatch)
    monkeypatch.setattr(modes, "_warned", set())
    with pytest.warns(RuntimeWarning, match="isolation='none'"):
        assert modes.resolve_isolation("none") == "none"
    assert modes.resolve_isolation("none") == "none"  # no second warning
    assert capsys.readouterr().err.count("isolation='none'") == 1


def test_weaker_than_demanded_is_an_error():
    check_isolation("auto", "unshare", "here")
    check_isolation("none", "none", "here")
    with pytest.raises(IsolationError, match="demands 'bwrap'"):
        check_isolation("bwrap", "unshare", "the sandbox service http://h:1")
    with pytest.raises(IsolationError, match="demands 'auto'"):
        check_isolation("auto", "none", "here")


def test_training_refuses_to_start_without_isolation(monkeypatch):
    from pgrpo.train.config import load_train_config
    from pgrpo.train.tasks import make_verifier

    _no_probes(monkeypatch)
    config = load_train_config(None, ["output_dir=/tmp/unused", "sandbox.workers=1"])
    with pytest.raises(IsolationError):
        make_verifier(config)


@pytest.mark.sandbox
def test_programs_are_single_threaded_and_cpu_limited():
    prog = ("import os, resource\nenv = [os.environ.get(k) for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', "
            "'OPENBLAS_NUM_THREADS')]\nprint(env == ['1'] * 3, resource.getrlimit(resource.RLIMIT_CPU)[0])")
    io = Problem("env", "x", Tests(TestKind.STDIO, stdio_cases=(StdioCase("", f"True {6 + 2}\n"),)))
    with Verifier(SandboxConfig(workers=1, timeout_per_program_s=6)) as verifier:
        r = verifier.run_jobs([Job(io, prog)])[0]
    assert r.passed, r.detail  # RLIMIT_CPU = timeout_per_program_s + 2
