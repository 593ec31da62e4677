"""`pgrpo sandbox serve` and its client: same verdicts as in-process, guarded, never a silent pass.

Services run on loopback (free ports) and are stopped by the test that starts them.
"""

from __future__ import annotations

import contextlib
import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from loopback import serving
from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
from pgrpo.data.schema import problem_to_dict
from pgrpo.sandbox import Job, Sandbox, SandboxConfig, Status
from pgrpo.sandbox.remote import RemoteSandbox, RemoteSandboxError
from pgrpo.sandbox.service import BackgroundService, check_binding
from pgrpo.sandbox.types import IsolationError
from pgrpo.verify import Verifier

pytestmark = pytest.mark.sandbox

CONFIG = SandboxConfig(workers=2, timeout_per_test_s=2, timeout_per_program_s=6, memory_mb=1024)
CALL = Problem("t/sq", "sq", Tests(TestKind.CALL, call_cases=(CallCase((2,), 4), CallCase((3,), 9))), entry_point="sq")
CANON = Problem("t/canon", "sq", Tests(TestKind.CALL, call_cases=(CallCase(((1, 2),)), CallCase(({"a": 1.5},))),
                                       outputs_from_canonical=True),
                entry_point="sq", canonical_solution="def sq(x):\n    return [x, x]")
STDIO = Problem("t/io", "add", Tests(TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"), StdioCase("2 2\n", "4\n"))))
HE = Problem("t/he", "add", Tests(TestKind.HUMANEVAL, test_code="def check(c):\n    assert c(2, 3) == 5\n"),
             entry_point="add")
JOBS = [Job(CALL, "def sq(x):\n    return x * x"), Job(CALL, "def sq(x):\n    return 4"), Job(CALL, "def sq(x) return"),
        Job(CALL, "def sq(x):\n    raise ValueError('boom')"), Job(CALL, "def sq(x):\n    while True: pass"),
        Job(CANON, "def sq(x):\n    return [x, x]"), Job(CANON, "def sq(x):\n    return [x]"),
        Job(STDIO, "a, b = map(int, input().split())\nprint(a + b)"), Job(STDIO, "print(3)"),
        Job(HE, "def add(a, b):\n    return a + b"), Job(HE, "import sys\nsys.exit(0)")]
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def service():
    with BackgroundService(CONFIG, token=TOKEN) as svc:
        yield svc


def _verdicts(results):
    return [(r.passed, r.status, r.tests_passed, r.tests_total, r.pass_fraction, r.detail) for r in results]


def test_same_verdicts_as_in_process(service):
    with Sandbox(CONFIG) as sb:
        local = sb.run(JOBS)
    with RemoteSandbox([service.url], CONFIG, token=TOKEN) as remote:
        assert remote.isolation == service.sandbox.isolation
        got = remote.run(JOBS)
    assert _verdicts(got) == _verdicts(local)
    assert [r.status for r in got][:5] == [Status.PASSED, Status.FAILED, Status.SYNTAX_ERROR, Status.RUNTIME_ERROR,
                                           Status.TIMEOUT]


def test_verifier_uses_the_service_from_the_config(service, monkeypatch):
    monkeypatch.setenv("PGRPO_SANDBOX_TOKEN", TOKEN)
    config = SandboxConfig(url=(service.url, service.url + "/"), timeout_per_test_s=2, timeout_per_program_s=6,
                           memory_mb=1024)
    with Verifier(config) as verifier:
        assert verifier.preflight() == service.sandbox.isolation
        response = "<think>square</think><answer>\n```python\ndef sq(x):\n    return x * x\n```\n</answer>"
        verdicts = verifier([(CALL, response)] * 5)
    assert all(v.passed for v in verdicts)


def _canon(name, inputs, canonical):
    tests = Tests(TestKind.CALL, call_cases=tuple(CallCase((x,)) for x in inputs), outputs_from_canonical=True)
    return Problem(name, "f", tests, entry_point="f", canonical_solution=canonical)


def test_canonical_outputs_are_not_shared_or_poisoned_between_clients(service):
    double = "def f(x):\n    return x * 2"
    slow = _canon("t/slow", [0, 1.0], "import time\ndef f(x):\n    time.sleep(x)\n    return x")
    low = SandboxConfig(timeout_per_test_s=0.3, timeout_per_program_s=6, memory_mb=1024)
    with RemoteSandbox([service.url], low, token=TOKEN) as hasty, \
            RemoteSandbox([service.url], CONFIG, token=TOKEN) as patient:
        assert not hasty.run([Job(slow, "def f(x):\n    return x")])[0].passed  # its canonical timed out
        assert patient.run([Job(slow, "def f(x):\n    return x")])[0].passed  # not "no expected output"
        assert patient.run([Job(_canon("t/same", [1, 2], double), double)])[0].passed
        other = _canon("t/same", [3, 4], double)  # same id, canonical and case count; other inputs
        correct, table = patient.run([Job(other, double), Job(other, "def f(x):\n    return {3: 2, 4: 4}[x]")])
        assert correct.passed and not table.passed


def test_requests_are_spread_over_urls():
    with BackgroundService(SandboxConfig(workers=1)) as a, BackgroundService(SandboxConfig(workers=1)) as b:
        with RemoteSandbox([a.url, b.url], SandboxConfig()) as remote:
            results = remote.run([Job(CALL, "def sq(x):\n    return x * x")] * 6)
        assert all(r.passed for r in results)
        assert a.sandbox._canonical == {} and len(remote._health) == 2


def test_token_is_required(service):
    assert httpx.get(service.url + "/health").status_code == 401
    bad = httpx.get(service.url + "/health", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and "authorization" in bad.json()["detail"]
    assert httpx.get(service.url + "/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    with RemoteSandbox([service.url], CONFIG, token="wrong", retries=0) as remote:
        with pytest.raises(RemoteSandboxError, match=f"{service.url}.*401"):
            remote.run(JOBS[:1])


def test_binding_beyond_loopback_needs_a_token():
    check_binding("127.0.0.1", None)
    check_binding("0.0.0.0", "t")
    with pytest.raises(Exception, match="token"):
        check_binding("0.0.0.0", None)


def _post(url, body, content_type="application/json", **kw):
    headers = {"Authorization": f"Bearer {TOKEN}", **({"Content-Type": content_type} if content_type else {})}
    return httpx.post(url + "/v1/run", content=body, headers=headers, **kw)


def test_only_json_bodies_are_accepted(service):
    """A web page can POST text/plain to a loopback service without a CORS preflight: refused."""
    body = json.dumps({"problems": [], "jobs": []}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        reply = _post(service.url, body, content_type=content_type)
        assert reply.status_code == 415 and "content-type" in reply.json()["detail"], reply.text
    assert _post(service.url, body, content_type="application/json; charset=utf-8").status_code == 200


def test_bad_requests_get_4xx_naming_the_field_and_the_service_keeps_serving():
    with BackgroundService(SandboxConfig(workers=1), token=TOKEN, max_jobs=4, max_body_bytes=4096) as svc:
        cases = {
            b"{not json": (422, "body"),
            json.dumps({"problems": [], "jobs": [{"problem": 0}]}).encode(): (422, "jobs[0].program"),
            json.dumps({"problems": [], "jobs": [{"problem": 0, "program": ""}]}).encode(): (422, "jobs[0].problem"),
            json.dumps({"problems": [{"task_id": "x"}], "jobs": []}).encode(): (422, "problems[0]"),
            json.dumps({"problems": [{**problem_to_dict(CALL), "metadata": {"s": {"__set__": [[1, 2]]}}}],
                        "jobs": []}).encode(): (422, "problems[0]: field 'metadata.s'"),
            json.dumps({"problems": [], "jobs": [], "limts": {}}).encode(): (422, "limts"),
            json.dumps({"problems": [], "jobs": [{"problem": 0, "program": ""}] * 5}).encode(): (422, "jobs"),
            json.dumps({"problems": [], "jobs": [], "limits": {**_limits(), "memory_mb": 1 << 20}}).encode():
                (422, "limits.memory_mb"),
            b"x" * 5000: (413, "body"),
        }
        for body, (code, field) in cases.items():
            reply = _post(svc.url, body)
            assert reply.status_code == code, (body[:80], reply.text)
            assert field in reply.json()["detail"], (field, reply.text)
        # chunked upload without Content-Length is capped too
        reply = _post(svc.url, iter([b"x" * 3000, b"y" * 3000]))
        assert reply.status_code == 413
        with RemoteSandbox([svc.url], SandboxConfig(), token=TOKEN) as remote:
            assert remote.run([Job(CALL, "def sq(x):\n    return x * x")])[0].passed


def _limits():
    return {k: getattr(SandboxConfig(), k) for k in ("timeout_per_test_s", "timeout_per_program_s", "memory_mb",
                                                       "output_limit_bytes", "max_processes", "scratch_mb")}


def test_limits_above_the_service_are_refused_before_any_job(service):
    too_much = SandboxConfig(timeout_per_test_s=2, timeout_per_program_s=6, memory_mb=8192)
    with RemoteSandbox([service.url], too_much, token=TOKEN) as remote:
        with pytest.raises(RemoteSandboxError, match=r"sandbox.memory_mb.*" + service.url):
            remote.run(JOBS[:1])


class _Garbage(BaseHTTPRequestHandler):
    """A fake 'sandbox service': healthy-looking, then replies that are not verdicts."""

    replies: list[object] = []

    def log_message(self, *args):
        pass

    def _send(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"status": "ok", "api_version": 1, "pgrpo_version": "x", "isolation": "bwrap", "workers": 1,
                    "limits": _limits(), "max_jobs": 100, "max_body_bytes": 1 << 20})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send(self.server.reply)  # type: ignore[attr-defined]  # set on the test's server


@contextlib.contextmanager
def _garbage_service(reply):
    """A loopback server answering every request with `reply` (JSON); yields its URL, stopped after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    server.reply = reply  # type: ignore[attr-defined]
    with serving(server) as url:
        yield url


def _passing(**over):
    return {"passed": True, "pass_fraction": 1.0, "status": "passed", "detail": "", "runtime_s": 0.1,
            "tests_passed": 2, "tests_total": 2, **over}


@pytest.mark.parametrize("reply", [
    {"results": "all passed"},
    {"version": 1, "isolation": "bwrap", "results": []},  # wrong count
    {"version": 1, "isolation": "bwrap", "results": [_passing(status="failed")]},
    {"version": 1, "isolation": "bwrap", "results": [_passing(tests_passed=1)]},
    {"version": 1, "isolation": "bwrap", "results": [_passing(status="great")]},
    [True],
], ids=["not_results", "count", "passed_but_failed", "fraction", "status", "list"])
def test_garbage_from_a_service_is_an_error_naming_the_url(reply):
    with _garbage_service(reply) as url:
        with RemoteSandbox([url], SandboxConfig(), retries=1, backoff_s=0.01) as remote:
            with pytest.raises(RemoteSandboxError, match=f"{url}.*garbage"):
                remote.run([Job(CALL, "def sq(x):\n    return 0")])


def test_unreachable_service_is_an_error_naming_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with RemoteSandbox([url], SandboxConfig(), retries=1, backoff_s=0.01) as remote:
        with pytest.raises(RemoteSandboxError, match=url):
            remote.run([Job(CALL, "def sq(x):\n    return 0")])


def test_a_reply_from_weaker_isolation_is_refused():
    """/health said bwrap; the reply (a service restarted without it) says none: refused, not a verdict."""
    with _garbage_service({"version": 1, "isolation": "none", "results": [_passing()]}) as url:
        with RemoteSandbox([url], SandboxConfig(), retries=1, backoff_s=0.01) as remote:
            with pytest.raises(IsolationError, match=f"{url}.*isolation='none'"):
                remote.run([Job(CALL, "def sq(x):\n    return x * x")])
            assert url not in remote._health  # re-read before the next request


def _padded(n_bytes):
    return "def sq(x):\n    return x * x\n# " + "p" * n_bytes + "\n"


def test_requests_fit_the_body_limit_of_the_service(monkeypatch):
    with BackgroundService(SandboxConfig(workers=1), token=TOKEN, max_body_bytes=4096) as svc:
        with RemoteSandbox([svc.url], SandboxConfig(), token=TOKEN, retries=0) as remote:
            sent = []
            request = remote._request
            monkeypatch.setattr(remote, "_request", lambda m, u, p, body, timeout: sent.append(body) or
                                request(m, u, p, body, timeout))
            results = remote.run([Job(CALL, _padded(900)) for _ in range(10)])
            assert all(r.passed for r in results) and len(results) == 10
            posts = [b for b in sent if b is not None]
            assert len(posts) >= 3 and all(len(b) <= 4096 for b in posts)
            with pytest.raises(RemoteSandboxError, match=r"task 't/sq'.*max_body_bytes=4096"):
                remote.run([Job(CALL, _padded(5000))])
            # a service that takes less than its /health said (restarted with a smaller --max-body-mb): halved on 413
            remote._health[svc.url] = remote._health[svc.url].model_copy(update={"max_body_bytes": 1 << 20})
            sent.clear()
            results = remote.run([Job(CALL, _padded(900)) for _ in range(6)])
            assert all(r.passed for r in results) and len(results) == 6 and len(sent) > 1
            with pytest.raises(RemoteSandboxError, match=r"task 't/sq'.*413"):
                remote.run([Job(CALL, _padded(5000))])
