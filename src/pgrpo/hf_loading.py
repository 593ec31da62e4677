"""`torch_dtype` (a config's dtype name -> `from_pretrained(dtype=...)`) and `ensure_pad_token` (pad with
EOS when a tokenizer has no pad token). torch is imported only when a dtype is resolved.
"""

from __future__ import annotations

from typing import Any

from pgrpo.errors import PgrpoError

# "auto": the checkpoint's own dtype.
DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def torch_dtype(name: Any, device: str | None = None) -> Any:
    """The torch dtype (or "auto") for `name`: one of DTYPE_NAMES or DTYPE_ALIASES, or a torch
    dtype (returned as is). None picks by device: bfloat16 on CUDA, float32 elsewhere."""
    import torch

    if name is None:
        return torch.bfloat16 if (device or "").startswith("cuda") else torch.float32
    if isinstance(name, torch.dtype):
        return name
    canonical = DTYPE_ALIASES.get(str(name), str(name))
    if canonical not in DTYPE_NAMES:
        raise PgrpoError(f"dtype: must be one of {sorted(DTYPE_NAMES + tuple(DTYPE_ALIASES))}, got {name!r}")
    return canonical if canonical == "auto" else getattr(torch, canonical)


def ensure_pad_token(tokenizer: Any) -> Any:
    """Give `tokenizer` a pad token (its EOS) when it has none; returns it, for chaining."""
    if tokenizer.pad_token is None or tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
