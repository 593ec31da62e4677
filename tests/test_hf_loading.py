"""The shared HF-loading rules: dtype names (with aliases and the by-device default) and the pad fallback."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pgrpo.errors import PgrpoError
from pgrpo.hf_loading import DTYPE_NAMES, ensure_pad_token, torch_dtype


def test_dtype_names_aliases_and_device_default():
    assert [torch_dtype(n) for n in DTYPE_NAMES] == ["auto", torch.float32, torch.bfloat16, torch.float16]
    assert (torch_dtype("bf16"), torch_dtype("fp16"), torch_dtype("fp32")) == (
        torch.bfloat16, torch.float16, torch.float32)
    assert torch_dtype(torch.float16) is torch.float16
    assert torch_dtype(None, "cpu") is torch.float32 and torch_dtype(None, "cuda:0") is torch.bfloat16
    with pytest.raises(PgrpoError, match="dtype: must be one of .*got 'float8'"):
        torch_dtype("float8")


def test_pad_token_falls_back_to_eos_only_when_missing():
    class Tok(SimpleNamespace):
        @property
        def pad_token_id(self):
            return {"<eos>": 2, "<pad>": 0}.get(self.pad_token)

    missing = Tok(pad_token=None, eos_token="<eos>")
    assert ensure_pad_token(missing) is missing and missing.pad_token == "<eos>" and missing.pad_token_id == 2
    own = Tok(pad_token="<pad>", eos_token="<eos>")
    assert ensure_pad_token(own).pad_token == "<pad>"
