"""A reward model loaded next to a ZeRO-3 policy comes out whole, on its device, in eval mode:
both heads' loaders take transformers' DeepSpeed config away while loading (so no zero-init
partitions it) and put it back afterwards. ZeRO-3 is faked by registering a config object the
way `HfDeepSpeedConfig` does (deepspeed itself is not installed on CPU, and must not be needed)."""

from __future__ import annotations

import shutil
import sys

import pytest
from transformers.integrations import deepspeed as hf_deepspeed

from pgrpo.rm.manifest import REFERENCE_DIR, ImplicitParams, RMManifest, write_manifest
from pgrpo.rm.scoring import RewardScorer, RMItem, outside_zero3_init


class FakeZero3Config:
    """What transformers reads through its weakref: `is_zero3()` and `config`."""

    config = {"zero_optimization": {"stage": 3}}

    def is_zero3(self) -> bool:
        return True


@pytest.fixture
def zero3():
    """A ZeRO-3 run as transformers sees it after GRPOConfig was built under accelerate + DeepSpeed."""
    config = FakeZero3Config()
    hf_deepspeed.set_hf_deepspeed_config(config)
    assert hf_deepspeed.is_deepspeed_zero3_enabled()
    yield config
    hf_deepspeed.unset_hf_deepspeed_config()


@pytest.fixture
def implicit_rm_path(tmp_path, tiny_policy_path):
    shutil.copytree(tiny_policy_path, tmp_path / REFERENCE_DIR)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        if (tmp_path / REFERENCE_DIR / name).exists():
            shutil.copy(tmp_path / REFERENCE_DIR / name, tmp_path / name)
    write_manifest(tmp_path, RMManifest("implicit", tiny_policy_path, False, 128, implicit=ImplicitParams(1.0, "pgrpo")))
    return str(tmp_path)


def test_without_the_guard_a_zero3_run_would_zero_init_the_rm(zero3, tiny_rm_path):
    from transformers import AutoModelForSequenceClassification

    assert "deepspeed" not in sys.modules
    with pytest.raises(ImportError, match="deepspeed"):  # transformers reaches for deepspeed.zero.Init
        AutoModelForSequenceClassification.from_pretrained(tiny_rm_path)


@pytest.mark.parametrize("head", ["scalar", "implicit"])
def test_both_loaders_turn_zero_init_off_while_loading(head, zero3, tiny_rm_path, implicit_rm_path, monkeypatch):
    import transformers

    path = tiny_rm_path if head == "scalar" else implicit_rm_path
    auto = transformers.AutoModelForSequenceClassification if head == "scalar" else transformers.AutoModelForCausalLM
    seen: list[bool] = []
    original = auto.from_pretrained.__func__  # type: ignore[union-attr]  # a classmethod: has __func__

    def recording(cls, *args, **kwargs):
        seen.append(hf_deepspeed.is_deepspeed_zero3_enabled())
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(auto, "from_pretrained", classmethod(recording))
    scorer = RewardScorer(path, device="cpu")
    assert seen == ([False] if head == "scalar" else [False, False])  # policy and reference
    assert hf_deepspeed.is_deepspeed_zero3_enabled() and hf_deepspeed.deepspeed_config() is zero3.config  # restored
    assert "deepspeed" not in sys.modules
    models = [scorer.model] + ([scorer.head.reference] if head == "implicit" else [])  # type: ignore[attr-defined]
    for model in models:
        assert not model.training
        for p in model.parameters():  # whole (a zero-init shard would be empty) and on the device
            assert p.numel() > 0 and p.device.type == "cpu"
    assert len(scorer.score([RMItem("Add one.", "Return x + 1.")])) == 1


def test_the_config_comes_back_even_when_loading_fails(zero3):
    with pytest.raises(RuntimeError), outside_zero3_init():
        assert not hf_deepspeed.is_deepspeed_zero3_enabled()
        raise RuntimeError("load failed")
    assert hf_deepspeed.is_deepspeed_zero3_enabled()


def test_without_deepspeed_config_the_guard_changes_nothing():
    assert not hf_deepspeed.is_deepspeed_zero3_enabled()
    with outside_zero3_init():
        assert not hf_deepspeed.is_deepspeed_zero3_enabled()
    assert hf_deepspeed._hf_deepspeed_config_weak_ref is None
