"""`make_backend` loads heavy optional backends and plugins' backends on demand, and one broken
optional module (e.g. vllm not installed) neither hides the others nor disappears from the error."""

from __future__ import annotations

import pytest

from pgrpo.llm import base


def test_plugin_backend_loads_past_a_broken_extra_module(monkeypatch):
    monkeypatch.setattr(base, "EXTRA_BACKEND_MODULES", ("pgrpo.no_such_module_for_test",))
    backend = base.make_backend("toy", "toy")  # the toy world's plugin
    assert backend.name == "toy"
    with pytest.raises(base.BackendError, match="nope.*pgrpo.no_such_module_for_test"):
        base.make_backend("nope", "m")
