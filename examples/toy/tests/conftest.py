"""Fixtures of the toy package's tests: tiny locally built models (once per session, never
downloaded), built with pgrpo's public API as the toy itself is."""

from __future__ import annotations

import os

import pytest

# No code path in the tests may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from pgrpo.tiny import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="session")
def tiny_policy_path(tmp_path_factory, tiny_tokenizer):
    """A tiny Qwen2 causal LM + tokenizer saved to disk (loadable with from_pretrained)."""
    from pgrpo.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-policy"), tokenizer=tiny_tokenizer))


@pytest.fixture(scope="session")
def tiny_rm_path(tmp_path_factory, tiny_tokenizer):
    """A tiny untrained scalar reward model (problem + reasoning) + tokenizer + its manifest."""
    from pgrpo.rm.scoring import build_tiny_rm

    return str(build_tiny_rm(tmp_path_factory.mktemp("tiny-rm"), tokenizer=tiny_tokenizer))
