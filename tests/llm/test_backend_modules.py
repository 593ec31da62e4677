"""`make_backend` finds the built-in backends and a plugin's backend on demand, and an unknown
name is an error naming every known backend."""

from __future__ import annotations

import pytest

from pgrpo.llm import base, make_backend


def test_plugin_backend_loads_and_an_unknown_name_lists_the_known_ones():
    backend = make_backend("toy", "toy")  # the toy world's plugin
    assert backend.name == "toy"
    with pytest.raises(base.BackendError, match=r"unknown chat backend 'nope'; known: .*hf, openai, toy, vllm"):
        make_backend("nope", "m")
