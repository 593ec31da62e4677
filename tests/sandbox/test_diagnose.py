"""When the jail cannot start, the error names the cause found (seccomp, user namespaces off,
AppArmor, no bwrap, privileges) and both fixes: container/host settings, or a sandbox service.

Each cause is read from a fake /proc tree; one test installs a real seccomp filter (as Docker's
default profile does: unshare and clone with CLONE_NEWUSER refused) in a fresh interpreter and
checks that the real probes fail and the IsolationError says why."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pgrpo.sandbox import modes
from pgrpo.sandbox.modes import diagnose_jail
from pgrpo.sandbox.types import IsolationError

SRC = Path(__file__).resolve().parents[2] / "src"
ALL_CAPS = "000001ffffffffff"
NO_SYS_ADMIN = format(int(ALL_CAPS, 16) & ~(1 << 21), "016x")


def fake_proc(root: Path, seccomp: int = 0, cap_eff: str = ALL_CAPS, apparmor: str | None = None,
              **sysctls: int) -> str:
    """A /proc tree under `root`: self/status, self/attr/current and the given sysctls
    (name = path under proc/sys with '/' as '__', e.g. user__max_user_namespaces)."""
    proc = root / "proc"
    (proc / "self" / "attr").mkdir(parents=True)
    (proc / "self" / "status").write_text(
        f"Name:\tpython3\nCapEff:\t{cap_eff}\nSeccomp:\t{seccomp}\nSeccomp_filters:\t{1 if seccomp else 0}\n")
    if apparmor is not None:
        (proc / "self" / "attr" / "current").write_text(apparmor + "\n")
    for name, value in sysctls.items():
        path = proc / "sys" / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    return str(root)


def both_fixes(message: str) -> None:
    assert "docs/clusters.md" in message
    assert "pgrpo sandbox serve" in message and "sandbox.url" in message


def names(diagnosis) -> list[str]:
    return [cause.name for cause in diagnosis.causes]


def test_masked_proc_stops_bwrap(tmp_path):
    root = fake_proc(tmp_path)
    (tmp_path / "proc" / "self" / "mountinfo").write_text(
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "40 22 0:50 / /proc/sys/fs/binfmt_misc rw - autofs systemd-1 rw\n"
        "41 22 0:51 / /proc/acpi ro,relatime - tmpfs tmpfs ro\n"
        "42 22 0:5 /null /proc/kcore rw,nosuid - devtmpfs udev rw\n")
    error = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted (exit status 1)"
    d = diagnose_jail(root, "/usr/bin/bwrap", {"bwrap": error}, environ={})
    assert names(d) == ["parts of /proc masked"]
    message = d.message()
    assert "2 mount(s) over parts of /proc (/proc/acpi, /proc/kcore)" in message and "binfmt_misc" not in message
    assert "systempaths=unconfined" in message and "procMount: Unmasked" in message
    # another bwrap failure is not blamed on /proc
    assert names(diagnose_jail(root, "/usr/bin/bwrap", {"bwrap": "bwrap: setting up uid map: Permission denied"},
                               environ={})) == ["not enough privileges"]


def test_seccomp_filter_without_sys_admin(tmp_path):
    d = diagnose_jail(fake_proc(tmp_path, seccomp=2, cap_eff=NO_SYS_ADMIN), "/usr/bin/bwrap",
                      {"unshare": "PermissionError: [Errno 1] unshare(0x7c020000): Operation not permitted"}, environ={})
    assert names(d) == ["seccomp filter (likely)"]
    message = d.message()
    assert "Seccomp: 2" in message and "without CAP_SYS_ADMIN" in message and "CLONE_NEWUSER" in message
    assert "seccomp=unconfined" in message and "seccompProfile: {type: Unconfined}" in message
    assert "unshare probe: PermissionError" in message
    both_fixes(message)


def test_seccomp_mode_0_is_not_blamed(tmp_path):
    d = diagnose_jail(fake_proc(tmp_path, seccomp=0), "/usr/bin/bwrap", {}, environ={})
    assert names(d) == [] and "no known restriction found" in d.message()
    both_fixes(d.message())


@pytest.mark.parametrize("sysctl,name,setting", [
    ("user__max_user_namespaces", "user namespaces off", "user.max_user_namespaces=15000"),
    ("kernel__unprivileged_userns_clone", "unprivileged user namespaces off", "kernel.unprivileged_userns_clone=1"),
])
def test_user_namespaces_off(tmp_path, sysctl, name, setting):
    sysctls: dict[str, int] = {sysctl: 0}
    proc = fake_proc(tmp_path, **sysctls)  # type: ignore[arg-type]  # sysctls only
    d = diagnose_jail(proc, "/usr/bin/bwrap", {}, environ={})
    assert names(d) == [name]
    assert f"/proc/sys/{sysctl.replace('__', '/')} is 0" in d.message() and setting in d.message()
    both_fixes(d.message())


def test_user_namespaces_on_are_not_blamed(tmp_path):
    root = fake_proc(tmp_path, user__max_user_namespaces=15000, kernel__unprivileged_userns_clone=1,
                     kernel__apparmor_restrict_unprivileged_userns=0)
    assert names(diagnose_jail(root, "/usr/bin/bwrap", {}, environ={})) == []


def test_apparmor_restricts_unprivileged_userns(tmp_path):
    d = diagnose_jail(fake_proc(tmp_path, kernel__apparmor_restrict_unprivileged_userns=1), "/usr/bin/bwrap", {},
                      environ={})
    assert names(d) == ["AppArmor restricts unprivileged user namespaces"]
    assert "Ubuntu" in d.message() and "kernel.apparmor_restrict_unprivileged_userns=0" in d.message()
    both_fixes(d.message())


def test_apparmor_profile_on_the_process(tmp_path):
    d = diagnose_jail(fake_proc(tmp_path, apparmor="docker-default (enforce)"), "/usr/bin/bwrap", {}, environ={})
    assert names(d) == ["AppArmor profile on this process"]
    assert "'docker-default (enforce)'" in d.message() and "apparmor=unconfined" in d.message()
    assert "appArmorProfile: {type: Unconfined}" in d.message()


@pytest.mark.parametrize("label", ["unconfined", "system_u:system_r:container_t:s0:c1,c2"])
def test_unconfined_or_selinux_label_is_not_apparmor(tmp_path, label):
    assert names(diagnose_jail(fake_proc(tmp_path, apparmor=label), "/usr/bin/bwrap", {}, environ={})) == []


def test_bwrap_missing(tmp_path):
    d = diagnose_jail(fake_proc(tmp_path), None, {"bwrap": "no `bwrap` on PATH"}, environ={})
    assert names(d) == ["bubblewrap not installed"] and "apt-get install bubblewrap" in d.message()
    both_fixes(d.message())


def test_refused_without_a_reason_in_proc_is_privileges(tmp_path):
    d = diagnose_jail(fake_proc(tmp_path, cap_eff=NO_SYS_ADMIN), "/usr/bin/bwrap",
                      {"bwrap": "bwrap: No permissions to create new namespace (exit status 1)"}, environ={})
    assert names(d) == ["not enough privileges"]
    assert "CAP_SYS_ADMIN not held" in d.message() and "bwrap probe: bwrap: No permissions" in d.message()
    # a cause found in /proc explains the refusal: no extra "privileges" guess next to it
    d = diagnose_jail(fake_proc(tmp_path / "b", seccomp=2), "/usr/bin/bwrap",
                      {"unshare": "Operation not permitted"}, environ={})
    assert names(d) == ["seccomp filter (likely)"]


def test_several_causes_and_the_container(tmp_path):
    (tmp_path / ".dockerenv").write_text("")
    root = fake_proc(tmp_path, seccomp=2, apparmor="docker-default (enforce)",
                     kernel__apparmor_restrict_unprivileged_userns=1)
    d = diagnose_jail(root, None, {}, environ={})
    assert names(d) == ["bubblewrap not installed", "AppArmor restricts unprivileged user namespaces",
                        "AppArmor profile on this process", "seccomp filter (likely)"]
    assert "this looks like a container (/.dockerenv exists)" in d.message()
    assert "container (KUBERNETES_SERVICE_HOST is set)" in diagnose_jail(
        fake_proc(tmp_path / "k"), "/usr/bin/bwrap", {}, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}).message()


def test_unreadable_proc_is_no_cause_and_no_crash(tmp_path):
    d = diagnose_jail(str(tmp_path / "nothing"), "/usr/bin/bwrap", {}, environ={})
    assert names(d) == [] and d.container is None


def test_resolve_isolation_raises_with_the_diagnosis(tmp_path, monkeypatch):
    root = fake_proc(tmp_path, seccomp=2, cap_eff=NO_SYS_ADMIN)
    monkeypatch.setitem(modes.PROBES, "bwrap", lambda: False)
    monkeypatch.setitem(modes.PROBES, "unshare", lambda: False)
    monkeypatch.setattr(modes, "PROBE_ERRORS", {"unshare": "PermissionError: [Errno 1] Operation not permitted"})
    monkeypatch.setattr(modes, "diagnose_jail", lambda _root, bwrap, errors: diagnose_jail(root, bwrap, errors,
                                                                                        environ={}))
    with pytest.raises(IsolationError) as auto:
        modes.resolve_isolation("auto")
    assert "Seccomp: 2" in str(auto.value) and "isolation: none" in str(auto.value)
    both_fixes(str(auto.value))
    with pytest.raises(IsolationError) as explicit:
        modes.resolve_isolation("unshare")
    assert "'unshare' does not work" in str(explicit.value) and "Seccomp: 2" in str(explicit.value)


# Docker's default seccomp profile, the part that matters: unshare and clone with CLONE_NEWUSER
# refused (EPERM), clone3 ENOSYS (so glibc falls back to clone, whose flags a filter can read).
SECCOMP_SCRIPT = textwrap.dedent("""
    import ctypes, sys
    ARCH, UNSHARE, CLONE, CLONE3 = {arch}
    ALLOW, ERRNO = 0x7FFF0000, 0x00050000
    LD, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
    prog = [(LD, 0, 0, 4), (JEQ, 0, 6, ARCH), (LD, 0, 0, 0), (JEQ, 5, 0, UNSHARE), (JEQ, 5, 0, CLONE3),
            (JEQ, 0, 2, CLONE), (LD, 0, 0, 16), (JSET, 1, 0, 0x10000000),
            (RET, 0, 0, ALLOW), (RET, 0, 0, ERRNO | 1), (RET, 0, 0, ERRNO | 38)]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(prog))(*[Filter(*f) for f in prog])
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.byref(Prog(len(prog), filters)), 0, 0) == 0, ctypes.get_errno()  # SECCOMP_MODE_FILTER

    from pgrpo.sandbox import modes
    from pgrpo.sandbox.types import IsolationError
    try:
        print("resolved", modes.resolve_isolation("auto"))
    except IsolationError as exc:
        print(exc)
        sys.exit(3)
""")
ARCHES = {"x86_64": (0xC000003E, 272, 56, 435), "aarch64": (0xC00000B7, 97, 220, 435)}


@pytest.mark.skipif(platform.machine() not in ARCHES, reason=f"no syscall numbers for {platform.machine()}")
def test_a_seccomp_filter_like_dockers_is_named_end_to_end():
    script = SECCOMP_SCRIPT.format(arch=ARCHES[platform.machine()])
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    message = proc.stdout
    assert "no isolation works here" in message
    assert "seccomp filter (likely): /proc/self/status: Seccomp: 2" in message
    assert "unshare probe:" in message and "Operation not permitted" in message
    assert "seccomp=unconfined" in message and "isolation: none" in message
    both_fixes(message)


# Docker's masked paths, the part that matters: a directory of /proc covered by a mount the jail's
# user namespace cannot undo (made in an outer user namespace, so locked in the inner one).
MASKED_PROC_SCRIPT = textwrap.dedent("""
    import os, sys
    from pgrpo.sandbox import isolation
    uid, gid = os.getuid(), os.getgid()
    isolation.unshare(isolation.CLONE_NEWUSER | isolation.CLONE_NEWNS)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    isolation.mount("none", "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
    target = next(p for p in ("/proc/acpi", "/proc/scsi", "/proc/driver", "/proc/bus", "/proc/fs") if os.path.isdir(p))
    isolation.mount("tmpfs", target, "tmpfs", isolation.MS_RDONLY, "size=4k")

    from pgrpo.data.problem import Problem, StdioCase, TestKind, Tests
    from pgrpo.sandbox import Job, SandboxConfig
    from pgrpo.verify import Verifier
    io = Problem("echo", "x", Tests(TestKind.STDIO, stdio_cases=(StdioCase("", "hi\\n"),)))
    with Verifier(SandboxConfig(workers=1)) as verifier:
        mode = verifier.preflight()
        result = verifier.run_jobs([Job(io, "print('hi')")])[0]
    print("RESULT", mode, result.status.value, result.detail)
""")


@pytest.mark.sandbox
def test_masked_proc_falls_back_to_unshare_naming_why_end_to_end():
    """bwrap's probe mounts what its workers mount: with part of /proc masked it fails as they
    would (rather than passing and failing every job), and auto falls back to unshare, saying why."""
    if not (modes.bwrap_works() and modes.unshare_works()):
        pytest.skip("needs a host where both bwrap and unshare work (the test masks /proc itself)")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", MASKED_PROC_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT unshare passed" in proc.stdout, proc.stdout + proc.stderr
    assert "parts of /proc masked" in proc.stderr and "Can't mount proc" in proc.stderr
    assert "systempaths=unconfined" in proc.stderr
