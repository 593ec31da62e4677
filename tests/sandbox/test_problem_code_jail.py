"""Code that arrives with a problem is as hostile as the model's: it runs in the jail, never in the worker.

A problem's `setup_code`, `starter_code`, `test_code` (HumanEval `check`) and `asserts` each try to
read a host file, write one, remount `/`, reach loopback, kill everything and patch the worker's
harness. Every attempt must fail inside the jail (the attack reports what it saw through the
verdict's detail), nothing on the host changes, and afterwards - same worker, another client -
a wrong program is still `failed` and a program that does not compile is still `syntax_error`.
Checked through the engine (both isolating modes), `pgrpo sandbox serve`, `pgrpo check` and
`pgrpo evaluate --rescore` on a local dataset file.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import textwrap

import pytest

from pgrpo.cli import main
from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.schema import problem_to_dict
from pgrpo.sandbox import Job, Sandbox, SandboxConfig, Status
from pgrpo.sandbox.modes import bwrap_works, unshare_works
from pgrpo.sandbox.remote import RemoteSandbox
from pgrpo.sandbox.service import BackgroundService

pytestmark = pytest.mark.sandbox

TOKEN = "jail-test-token"
LOCATIONS = ("setup_code", "starter_code", "test_code", "asserts")
ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"


def _attack_source(secret: str, target: str, port: int) -> str:
    """`_attack()`: every escape at once; returns what happened, e.g. 'read:PermissionError ...'."""
    return textwrap.dedent(f"""
        def _attack():
            import ctypes, os, socket
            seen = []
            try:
                seen.append("read:LEAK " + open({secret!r}).read())
            except OSError as exc:
                seen.append("read:" + type(exc).__name__)
            for path in ({target!r}, "/pgrpo-jail-pwned"):
                try:
                    with open(path, "w") as f:
                        f.write("pwned")
                    seen.append("write:WROTE " + path)
                except OSError as exc:
                    seen.append("write:" + type(exc).__name__)
            libc = ctypes.CDLL(None, use_errno=True)
            MS_REMOUNT, MS_BIND = 32, 4096
            if libc.umount2(b"/proc", 2) == 0 or libc.mount(b"none", b"/", None, MS_REMOUNT | MS_BIND, None) == 0:
                seen.append("mount:REMOUNTED")
            else:
                seen.append("mount:errno" + str(ctypes.get_errno()))
            try:
                socket.create_connection(("127.0.0.1", {port}), 1).close()
                seen.append("net:CONNECTED")
            except OSError as exc:
                seen.append("net:" + type(exc).__name__)
            try:
                import pgrpo.sandbox.kinds as kinds, pgrpo.sandbox.worker as worker
                from pgrpo.sandbox.testrun import JobVerdict
                from pgrpo.sandbox.types import Status
                forged = lambda spec, spawner: JobVerdict(Status.PASSED, "", 1, 1)
                kinds.run_job = worker.run_job = forged
                kinds.SPECS.clear()
            except Exception as exc:
                seen.append("patch:" + type(exc).__name__)
            for pid in (-1, 1):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            return " ".join(seen)
        """)


def _problem(location: str, attack: str, task_id: str = "jail/add") -> Problem:
    """A HumanEval (or, for `asserts`, an asserts) problem whose `location` carries the attack;
    every test reports `_attack()`'s findings as its failure."""
    report = "raise AssertionError('ATTACK ' + _attack())"
    if location == "asserts":
        return Problem(task_id, "add", Tests(TestKind.ASSERTS, asserts=(attack + "\n" + report,)), entry_point="add")
    setup = starter = ""
    test = "def check(candidate):\n    candidate(2, 3)\n    " + report + "\n"
    if location == "setup_code":
        setup, test = attack + "\n_R = _attack()\n", "def check(candidate):\n    raise AssertionError('ATTACK ' + _R)\n"
    elif location == "starter_code":
        starter = attack + "\n_R = _attack()\n"
        test = "def check(candidate):\n    raise AssertionError('ATTACK ' + _R)\n"
    else:
        test = attack + "\n" + test
    return Problem(task_id, "add", Tests(TestKind.HUMANEVAL, test_code=test, setup_code=setup), entry_point="add",
                   starter_code=starter)


@pytest.fixture
def host(tmp_path):
    """A host file nobody without privileges may read, a path to write, and a loopback listener."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CANARY")
    secret.chmod(0)  # unreadable without CAP_DAC_OVERRIDE, even by its owner
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    yield {"secret": str(secret), "target": str(tmp_path / "pwned.txt"), "port": listener.getsockname()[1],
           "listener": listener, "tmp": tmp_path}
    listener.close()


def _assert_contained(details: list[str], host: dict) -> None:
    """Every attack ran, every attempt failed, and nothing changed on the host."""
    assert details and all("ATTACK " in d for d in details), details
    for detail in details:
        assert "LEAK" not in detail and "TOP-SECRET-CANARY" not in detail, detail
        assert "WROTE" not in detail and "REMOUNTED" not in detail and "CONNECTED" not in detail, detail
        for step in ("read:", "write:", "mount:errno", "net:"):
            assert step in detail, detail
    assert not os.path.exists(host["target"]) and not os.path.exists("/pgrpo-jail-pwned")
    with pytest.raises(BlockingIOError):
        host["listener"].accept()


def _followers(results: list) -> None:
    """After the attacks, on the same worker: honest passes, wrong fails, broken is a syntax error."""
    assert [r.status for r in results] == [Status.PASSED, Status.FAILED, Status.SYNTAX_ERROR], \
        [(r.status, r.detail) for r in results]


HONEST = Problem("jail/honest", "add", Tests(TestKind.HUMANEVAL, test_code="def check(c):\n    assert c(2, 3) == 5\n"),
                 entry_point="add")
FOLLOWERS = [Job(HONEST, ADD), Job(HONEST, WRONG_ADD), Job(HONEST, "def add(a, b) return")]


@pytest.mark.parametrize("isolation", ["bwrap", "unshare"])
def test_problem_code_is_jailed_in_the_engine(isolation, host):
    if not {"bwrap": bwrap_works, "unshare": unshare_works}[isolation]():
        pytest.skip(f"{isolation} does not work on this host")
    attack = _attack_source(host["secret"], host["target"], host["port"])
    jobs = [Job(_problem(loc, attack), program) for loc in LOCATIONS for program in (ADD, WRONG_ADD)]
    with Sandbox(SandboxConfig(workers=1, isolation=isolation, timeout_per_test_s=10)) as sb:
        results = sb.run(jobs, progress=False)
        assert all(r.status is Status.FAILED for r in results), [(r.status, r.detail) for r in results]
        _assert_contained([r.detail for r in results], host)
        _followers(sb.run(FOLLOWERS, progress=False))


def test_problem_code_is_jailed_in_the_service(host):
    attack = _attack_source(host["secret"], host["target"], host["port"])
    config = SandboxConfig(workers=1, timeout_per_test_s=10)
    with BackgroundService(config, token=TOKEN) as svc:
        with RemoteSandbox([svc.url], config, token=TOKEN) as attacker:
            results = attacker.run([Job(_problem(loc, attack), WRONG_ADD) for loc in LOCATIONS])
        assert all(r.status is Status.FAILED for r in results), [(r.status, r.detail) for r in results]
        _assert_contained([r.detail for r in results], host)
        with RemoteSandbox([svc.url], config, token=TOKEN) as second_client:
            _followers(second_client.run(FOLLOWERS))


def _write_dataset(host: dict) -> str:
    attack = _attack_source(host["secret"], host["target"], host["port"])
    path = host["tmp"] / "poisoned.jsonl"
    with open(path, "w") as f:
        for loc in LOCATIONS:
            f.write(json.dumps(problem_to_dict(_problem(loc, attack, f"jail/{loc}"))) + "\n")
    return str(path)


def test_local_dataset_code_is_jailed_in_pgrpo_check(host):
    dataset = _write_dataset(host)
    samples = host["tmp"] / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": f"jail/{loc}", "solution": WRONG_ADD}) + "\n"
                               for loc in LOCATIONS))
    out = host["tmp"] / "results.jsonl"
    assert main(["check", "--problems", dataset, "--samples", str(samples), "--out", str(out), "--k", "1",
                 "--workers", "1", "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in records] == ["failed"] * len(LOCATIONS)
    _assert_contained([r["detail"] for r in records], host)


def test_local_dataset_code_is_jailed_in_pgrpo_evaluate(host):
    dataset = _write_dataset(host)
    out = host["tmp"] / "eval"
    out.mkdir()
    response = f"<think>t</think>\n<answer>\n```python\n{WRONG_ADD}```\n</answer>"
    (out / "samples.jsonl").write_text("".join(
        json.dumps({"task_id": f"jail/{loc}", "sample_index": 0, "response": response}) + "\n" for loc in LOCATIONS))
    assert main(["evaluate", "--rescore", "--benchmarks", f"file:{dataset}", "--out", str(out), "--workers", "1",
                 "--no-progress"]) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["failed"] * len(LOCATIONS)
    _assert_contained([r["detail"] for r in records], host)


LEFTOVER = textwrap.dedent("""
    def _leave_and_look(tag):
        import os
        seen = [p for p in ("/tmp/pgrpo-left", "/dev/pgrpo-left", "/pgrpo-left", "/dev/shm/pgrpo-left")
                if os.path.exists(p)]
        for p in ("/tmp/pgrpo-left", "/dev/pgrpo-left", "/pgrpo-left", "/dev/shm/pgrpo-left"):
            try:
                open(p, "w").write(tag)
            except OSError:
                pass
        return seen
    """)


@pytest.mark.parametrize("isolation", ["bwrap", "unshare"])
def test_nothing_a_job_writes_is_seen_by_the_next(isolation):
    """Neither test code nor programs can leave a file (in /tmp, /dev, /dev/shm, /) for a later job."""
    if not {"bwrap": bwrap_works, "unshare": unshare_works}[isolation]():
        pytest.skip(f"{isolation} does not work on this host")
    by_test_code = Problem("jail/left", "add", Tests(TestKind.HUMANEVAL, test_code=LEFTOVER + (
        "def check(candidate):\n    assert _leave_and_look('t') == [], _leave_and_look('t')\n"
        "    assert candidate(2, 3) == 5\n")), entry_point="add")
    by_program = LEFTOVER + "def add(a, b):\n    return a + b if not _leave_and_look('p') else 0\n"
    jobs = [Job(by_test_code, ADD), Job(HONEST, by_program)] * 3
    with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sb:
        results = sb.run(jobs, progress=False)
    assert [r.status for r in results] == [Status.PASSED] * len(jobs), [r.detail for r in results]


def test_unix_sockets_on_the_host_are_out_of_reach():
    """The network namespace does not cover filesystem sockets: /tmp and /run are hidden from jobs."""
    if not unshare_works():
        pytest.skip("unshare does not work on this host")
    path = f"/tmp/pgrpo-jail-{os.getpid()}.sock"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    server.setblocking(False)
    connect = (f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.settimeout(1)\ns.connect({path!r})\n"
               "s.sendall(b'HELLO')\n")
    problem = Problem("jail/sock", "add", Tests(TestKind.HUMANEVAL, test_code=(
        "def check(candidate):\n    " + connect.replace("\n", "\n    ") + "\n")), entry_point="add")
    try:
        with Sandbox(SandboxConfig(workers=1, isolation="unshare")) as sb:
            results = sb.run([Job(problem, ADD), Job(HONEST, connect + ADD)], progress=False)
        assert [r.status for r in results] == [Status.FAILED, Status.RUNTIME_ERROR], [r.detail for r in results]
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
        os.unlink(path)
