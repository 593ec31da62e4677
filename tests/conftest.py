"""Shared fixtures: tiny locally built models (built once per session, never downloaded)."""

from __future__ import annotations

import os

import pytest

# No code path in the tests may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture(scope="session")
def fixtures_dir() -> str:
    return FIXTURES


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
    """A tiny untrained Qwen2ForSequenceClassification (num_labels=1) + tokenizer + its manifest
    (a scalar RM reading problem + reasoning) saved to disk."""
    from pgrpo.rm.scoring import build_tiny_rm

    return str(build_tiny_rm(tmp_path_factory.mktemp("tiny-rm"), tokenizer=tiny_tokenizer))
