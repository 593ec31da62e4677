"""The `pgrpo serve` process itself: starts on a free loopback port, answers the OpenAI protocol."""

from __future__ import annotations

import subprocess
import sys
import time

import openai
import pytest

from loopback import free_port
from pgrpo.llm import ChatRequest, make_backend
from pgrpo.serving import stop_process

CLI = [sys.executable, "-c", "import sys; from pgrpo.cli import main; sys.exit(main())"]


def wait_for_server(base_url: str, timeout: float = 30.0) -> bool:
    """Poll `GET {base_url}/models` until it answers (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    with openai.OpenAI(api_key="no-key", base_url=base_url, timeout=2.0, max_retries=0) as client:
        while time.monotonic() < deadline:
            try:
                client.models.list()
                return True
            except openai.APIError:
                time.sleep(0.2)
    return False


@pytest.mark.slow
def test_pgrpo_serve_process(tiny_policy_path, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as handle:
        proc = subprocess.Popen([*CLI, "serve", "--model", tiny_policy_path, "--port", str(port),
                                 "--served-name", "tiny"], stdout=handle, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        assert wait_for_server(base, timeout=180), log.read_text()[-2000:]
        client = make_backend("openai", "tiny", base_url=base, timeout=60, max_retries=1)
        out = client.generate([ChatRequest([{"role": "user", "content": "hi"}], temperature=1.0, n=2, seed=0,
                                           max_tokens=5)])
        assert out[0].ok and len(out[0].texts) == 2 and out[0].completion_tokens > 0
    finally:
        stop_process(proc, timeout_s=20)
    assert "pgrpo serve: tiny at " + base in log.read_text()
