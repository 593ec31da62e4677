"""Shared fixtures: tiny locally built models (built once per session, never downloaded); the
`network` marker's rule (a test that needs the package registry skips when it is unreachable,
except in CI, where CI=true and an unreachable registry fails the test)."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import urllib.parse
from pathlib import Path

import pytest

# No code path in the tests may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
DEFAULT_INDEX = "https://pypi.org/simple"


@functools.cache
def registry_host() -> str | None:
    """The package registry's host (PIP_INDEX_URL's, else PyPI's) when it accepts a connection, else None."""
    host = urllib.parse.urlparse(os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX)).hostname or "pypi.org"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError:
        return None
    return host


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `network` need the package registry: skipped offline, failed in CI (CI=true)."""
    if item.get_closest_marker("network") is None or registry_host() is not None:
        return
    where = os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the package registry {where} is unreachable: this test must run in CI")
    pytest.skip(f"the package registry {where} is unreachable (offline); CI runs this test")


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


@pytest.fixture(scope="session")
def recipe_project(tmp_path_factory, tiny_rm_path):
    """A copy of recipes/ with what `pgrpo data build-rl`, `pgrpo rm pairs` and `pgrpo rm train`
    would have written next to it: every shipped recipe validates there from any directory."""
    from pgrpo.train.config import load_train_config

    root_dir = Path(__file__).resolve().parents[1]
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(root_dir / "recipes", root / "recipes")
    (root / "data" / "train").mkdir(parents=True)
    shutil.copy(root_dir / "recipes" / "data" / "tiny-humaneval.jsonl", root / "data" / "train" / "code-rl.jsonl")
    (root / "data" / "train" / "math-rl.jsonl").write_text('{"problem": "1+1?", "answer": "2"}\n')
    pairs = root_dir / "tests" / "fixtures" / "rm" / "synthetic_pairs.jsonl"  # what recipes/rm/tiny-cpu.yaml reads
    for target in (root / "runs" / "od-pairs" / "pairs.jsonl", root / "tests" / "fixtures" / "rm" / pairs.name):
        target.parent.mkdir(parents=True)
        shutil.copy(pairs, target)
    for config in sorted((root_dir / "recipes").glob("*.yaml")):
        rm_path = load_train_config(config).reward.rm_path
        if rm_path is not None:  # the RM the recipe names, at the same place relative to the recipe
            target = root / Path(rm_path).resolve().relative_to(root_dir)
            if not target.exists():
                shutil.copytree(tiny_rm_path, target)
    return root


def build_nudged_implicit_rm(out, policy_path, *, beta: float = 0.5, include_code: bool = True, max_length: int = 256):
    """An implicit RM directory for tests: the policy with its weights nudged (seeded), the
    original as its reference, and the manifest saying so. Returns `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pgrpo.rm.manifest import REFERENCE_DIR, ImplicitParams, RMManifest, write_manifest

    out = Path(out)
    shutil.copytree(policy_path, out / REFERENCE_DIR)
    model = AutoModelForCausalLM.from_pretrained(policy_path)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(policy_path).save_pretrained(out)
    write_manifest(out, RMManifest("implicit", str(policy_path), include_code, max_length,
                                   implicit=ImplicitParams(beta, "pgrpo")))
    return out


@pytest.fixture(scope="session")
def nudged_implicit_rm():
    """`build_nudged_implicit_rm`, for tests (conftest is not importable by name here)."""
    return build_nudged_implicit_rm
