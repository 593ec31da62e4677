"""Adversarial programs: every containment requirement of the sandbox, one test (or more) each.

Runs in the default isolation ("auto" = bwrap here), twice: in process, and through
`pgrpo sandbox serve` (a subprocess on loopback, with a token and an HF_TOKEN canary in its
environment) via its client. kill(-1) cases run inside the jail's own pid namespace, so a
failure cannot hit the test machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pgrpo import serving
from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
from pgrpo.sandbox import Job, Sandbox, SandboxConfig, Status
from pgrpo.sandbox.remote import RemoteSandbox

pytestmark = pytest.mark.sandbox

CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(0, 0) == 0\n"
HE = Problem("t/add", "add", Tests(TestKind.HUMANEVAL, test_code=CHECK), starter_code="def add(a, b):\n    '''x'''\n",
             entry_point="add")
ASSERTS = Problem("t/asserts", "add", Tests(TestKind.ASSERTS, asserts=("assert add(2, 3) == 5", "assert add(1, 1) == 2")),
                  entry_point="add")
CALL = Problem("t/call", "add", Tests(TestKind.CALL, call_cases=(CallCase((2, 3), 5), CallCase((1, 1), 2))),
               entry_point="add")
STDIO = Problem("t/stdio", "echo", Tests(TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"),)))


SECRET = "hf_SECRET_canary_123"
TOKEN = "containment-token"


def _serve() -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "HF_TOKEN": SECRET, "PGRPO_SANDBOX_TOKEN": TOKEN}
    return serving.launch([sys.executable, "-m", "pgrpo", "sandbox", "serve", "--port", "0", "--sandbox-workers", "2"],
                          env=env)


@pytest.fixture(scope="module", params=["in_process", "service"])
def engine(request):
    """Makes a sandbox for a config: the local pool, or a client of `pgrpo sandbox serve`."""
    if request.param == "in_process":
        yield Sandbox
        return
    proc, url = _serve()
    try:
        yield lambda config: RemoteSandbox([url], config, token=TOKEN)
    finally:
        serving.stop_process(proc)


@pytest.fixture(scope="module")
def sb(engine):
    with engine(SandboxConfig(workers=2, timeout_per_test_s=2, timeout_per_program_s=6, memory_mb=512)) as box:
        yield box


def run1(sb, problem, program):
    return sb.run([Job(problem, program)])[0]


def test_uses_bwrap(sb):
    assert sb.isolation == "bwrap"


@pytest.mark.parametrize("problem", [HE, ASSERTS, CALL], ids=["humaneval", "asserts", "call"])
def test_honest_program_passes(sb, problem):
    r = run1(sb, problem, "def add(a, b):\n    return a + b\n")
    assert r.passed and r.status is Status.PASSED and r.pass_fraction == 1.0


FORGERIES = {
    "sys_exit0": "import sys\nsys.exit(0)\ndef add(a, b): return a + b",
    "os_exit0": "import os\ndef add(a, b):\n    os._exit(0)",
    "print_passed": "def add(a, b):\n    print('passed'); print('All tests passed')\n    return 0",
    "base_exc": "class E(BaseException): pass\ndef add(a, b):\n    raise E()",
    "keyboard": "class K(KeyboardInterrupt): pass\ndef add(a, b):\n    raise K()",
    "systemexit_sub": "class S(SystemExit): pass\ndef add(a, b):\n    raise S(0)",
    "eq_true": "class T:\n    def __eq__(s, o): return True\n    def __ne__(s, o): return False\ndef add(a, b): return T()",
    "int_sub": "class I(int):\n    def __eq__(s, o): return True\ndef add(a, b): return I(7)",
    "list_sub": "class L(list):\n    def __eq__(s, o): return True\ndef add(a, b): return L()",
    "patch_builtins": "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\ndef add(a, b): return -1",
}


@pytest.mark.parametrize("problem", [HE, ASSERTS, CALL], ids=["humaneval", "asserts", "call"])
@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forgery_fails(sb, problem, name):
    r = run1(sb, problem, FORGERIES[name])
    assert not r.passed and r.status is not Status.PASSED


def test_stdio_exit_and_print_passed_fail(sb):
    for prog in ("import sys\nsys.exit(0)", "print('passed')", "import os\nos._exit(0)"):
        assert not run1(sb, STDIO, prog).passed
    assert run1(sb, STDIO, "a, b = map(int, input().split())\nprint(a + b)").passed


def test_memory_hog_is_memory_exceeded(sb):
    r = run1(sb, HE, "def add(a, b):\n    x = bytearray(8 << 30)\n    return a + b")
    assert r.status is Status.MEMORY_EXCEEDED
    r = run1(sb, STDIO, "x = [0] * (2 << 30)\nprint(3)")
    assert r.status is Status.MEMORY_EXCEEDED


@pytest.mark.parametrize("program", [
    "def add(a, b):\n    while True: pass",
    "import re\ndef add(a, b):\n    return len(re.findall(r'(a+)+$', 'a' * 40 + 'b'))",
    "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
    "def add(a, b):\n    while True: pass",
], ids=["python_loop", "regex_backtracking", "ignores_signals"])
def test_infinite_loops_time_out(sb, program):
    t = time.monotonic()
    r = run1(sb, HE, program)
    assert r.status is Status.TIMEOUT
    assert time.monotonic() - t < 5


def test_threads_left_running_end(sb):
    prog = "import threading, time\nthreading.Thread(target=lambda: time.sleep(1000)).start()\nprint(3)"
    t = time.monotonic()
    assert run1(sb, STDIO, prog).passed
    assert time.monotonic() - t < 3


def test_program_time_cap(engine):
    many = Problem("t/many", "x", Tests(TestKind.CALL, call_cases=tuple(CallCase((i,), i) for i in range(20))),
                   entry_point="f")
    with engine(SandboxConfig(workers=1, timeout_per_test_s=0.3, timeout_per_program_s=1)) as box:
        t = time.monotonic()
        r = box.run([Job(many, "import time\ndef f(x):\n    time.sleep(0.2)\n    return x")])[0]
    assert time.monotonic() - t < 4
    assert r.status is Status.TIMEOUT and 0 < r.tests_passed < 20


@pytest.mark.slow
def test_fork_bomb_contained(sb):
    prog = "import os\ndef add(a, b):\n    while True:\n        try: os.fork()\n        except OSError: pass"
    t = time.monotonic()
    r = run1(sb, HE, prog)
    assert not r.passed and time.monotonic() - t < 8
    assert run1(sb, HE, "def add(a, b): return a + b").passed  # the worker still serves jobs


def test_setsid_daemon_is_gone(sb, tmp_path):
    # The daemon would write a marker through a pipe-less channel: it must not survive the job.
    prog = ("import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(1.5)\n        print('daemon-alive', flush=True)\n        os._exit(0)\n    os._exit(0)\n"
            "os.waitpid(pid, 0)\nprint(3)")
    r = run1(sb, STDIO, prog)
    assert r.passed  # the job's result does not wait for the daemon: it was killed with the namespace
    assert r.runtime_s < 1.4


@pytest.mark.parametrize("program", [
    "import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b",
    "import os, signal\ndef add(a, b):\n    os.kill(0, signal.SIGKILL)",
    "import os, signal\ndef add(a, b):\n    os.kill(-1, signal.SIGKILL)\n    return a + b",
], ids=["kill_parent", "kill_group", "kill_all"])
def test_killers_harm_nothing_outside(sb, program):
    jobs = [Job(HE, "def add(a, b): return a + b"), Job(HE, program), Job(HE, "def add(a, b): return a + b")] * 2
    rs = sb.run(jobs)
    assert [r.passed for r in rs[::3]] == [True, True] and [r.passed for r in rs[2::3]] == [True, True]
    assert all(r.status is not Status.SANDBOX_ERROR for r in rs)


def test_files_outside_scratch_unchanged(sb, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("original")
    repo_file = os.path.join(os.path.dirname(__file__), "test_containment.py")
    before = open(repo_file).read()
    prog = (f"import os\nfor p in [{str(target)!r}, {repo_file!r}, os.path.expanduser('~/pwn'), '/pwn', '/etc/pwn']:\n"
            "    try:\n        open(p, 'w').write('pwned')\n    except OSError: pass\n"
            f"try:\n    os.remove({str(target)!r})\nexcept OSError: pass\n"
            "open('scratch.txt', 'w').write('ok')\nprint(open('scratch.txt').read() == 'ok' and 3)")
    assert run1(sb, STDIO, prog).passed
    assert target.read_text() == "original" and open(repo_file).read() == before
    assert not os.path.exists("/pwn") and not os.path.exists(os.path.expanduser("~/pwn"))


def test_secrets_not_visible(engine, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)  # the service was started with it in its environment
    with engine(SandboxConfig(workers=1)) as box:
        prog = ("import os, glob\nfound = 'hf_SECRET_canary_123' in str(os.environ)\n"
                "for p in glob.glob('/proc/*/environ'):\n    try:\n"
                "        found = found or b'hf_SECRET_canary_123' in open(p, 'rb').read()\n"
                "    except OSError: pass\nprint(3 if not found and not glob.glob('/proc/[0-9]*') else 'leak')")
        assert box.run([Job(STDIO, prog)])[0].passed


@pytest.mark.parametrize("program", [
    "import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('127.0.0.1', 22))\nprint(3)",
    "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nc = socket.create_connection(s.getsockname(), 1)\nprint(3)",
    "import socket\nsocket.create_connection(('8.8.8.8', 53), 1)\nprint(3)",
], ids=["connect_loopback", "listen_loopback", "internet"])
def test_no_network(sb, program):
    r = run1(sb, STDIO, program)
    assert r.status is Status.RUNTIME_ERROR


def test_output_flood_is_capped(sb):
    t = time.monotonic()
    r = run1(sb, STDIO, "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)")
    assert r.status is Status.OUTPUT_EXCEEDED and time.monotonic() - t < 3
    r = run1(sb, HE, "def add(a, b):\n    print('y' * (4 << 20))\n    return a + b")
    assert r.status is Status.OUTPUT_EXCEEDED


def test_jobs_are_independent(engine):
    # Sequential on one worker (in process): job 1 leaves files and env, job 2 must see none of it.
    with engine(SandboxConfig(workers=1)) as box:
        leave = ("import os\nfor d in ['.', '/tmp', '/dev/shm']:\n    try: open(os.path.join(d, 'left'), 'w').write('1')\n"
                 "    except OSError: pass\nos.environ['LEFT'] = '1'\nos.putenv('LEFT', '1')\nprint(3)")
        look = ("import os\nseen = any(os.path.exists(os.path.join(d, 'left')) for d in ['.', '/tmp', '/dev/shm'])\n"
                "print(3 if not seen and 'LEFT' not in os.environ else 'leak')")
        rs = box.run([Job(STDIO, leave), Job(STDIO, look)])
    assert rs[0].passed and rs[1].passed


def test_program_is_init_of_its_own_pid_namespace(sb):
    # Its children are born inside its namespace (pid 2), not in the worker's.
    prog = ("import os\nr, w = os.pipe()\npid = os.fork()\nif pid == 0:\n    os.write(w, str(os.getpid()).encode())\n"
            "    os._exit(0)\nos.waitpid(pid, 0)\nprint(3 if os.getpid() == 1 and os.read(r, 10) == b'2' else 'leak')")
    for r in sb.run([Job(STDIO, prog)] * 3):
        assert r.passed, r.detail


def test_process_count_is_capped(sb):
    from pgrpo.sandbox.isolation import PidsCgroup

    probe = PidsCgroup.create(10)
    if probe is None and os.geteuid() == 0:
        pytest.skip("no writable pids cgroup and running as root: only the wall-clock kill bounds forks")
    if probe is not None:
        probe.remove()
    prog = ("import os, time\nn = 0\nfor _ in range(300):\n    try:\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        n += 1\n    except OSError:\n        break\n"
            "print(3 if n < 100 else n)")
    t = time.monotonic()
    r = run1(sb, STDIO, prog)
    assert r.passed, r.detail
    assert time.monotonic() - t < 5
