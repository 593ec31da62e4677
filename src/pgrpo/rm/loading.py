"""Loading a reward model next to a DeepSpeed ZeRO-3 policy: whole, on this rank's device, in eval mode.

Owns `outside_zero3_init()` and `load_whole(loader, path, device, **kwargs)`, which every RM
loader (`pgrpo.rm.scoring.load_head`, `pgrpo.rm.implicit.ImplicitHead.load`) goes through;
`RewardScorer` also runs its forward passes inside `outside_zero3_init()` (TRL's fused LM
head, used by the implicit head, would otherwise try to all-gather the plain weights as
ZeRO-3 shards).

Why: building TRL's `GRPOConfig` under `accelerate launch` with a ZeRO-3 DeepSpeed plugin
registers a `HfDeepSpeedConfig` in transformers' globals (a weakref read by
`transformers.integrations.deepspeed.is_deepspeed_zero3_enabled`). From then on every
`from_pretrained` in the process runs inside `deepspeed.zero.Init`, so a reward model loaded
after the config comes out partitioned across ranks and is never wrapped in an engine: its
forward pass would run on empty shards. Sharding it properly would deadlock instead, since the
posterior gate gives each rank a different number of items to score. So the RM is loaded with
the registered config taken away (transformers' own `unset_hf_deepspeed_config` /
`set_hf_deepspeed_config`, restored afterwards even on error): a plain, whole model, moved to
the rank's own device and put in eval mode. Never imports deepspeed (not installed on CPU).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()  # the registered config is process-global


@contextmanager
def outside_zero3_init() -> Iterator[None]:
    """While inside, transformers sees no DeepSpeed config (no zero-init, no ZeRO-3 paths);
    the config registered before (if any) is registered again on exit."""
    from transformers.integrations import deepspeed as hf_deepspeed

    with _LOCK:
        ref = hf_deepspeed._hf_deepspeed_config_weak_ref  # the one place transformers keeps it
        registered = ref() if ref is not None else None
        if registered is None and not hf_deepspeed.is_deepspeed_zero3_enabled():
            yield
            return
        hf_deepspeed.unset_hf_deepspeed_config()
        try:
            yield
        finally:
            if registered is not None:
                hf_deepspeed.set_hf_deepspeed_config(registered)


def load_whole(loader: Callable[..., Any], path: Any, device: str, **kwargs: Any) -> Any:
    """`loader(path, **kwargs)` (a `from_pretrained`) outside zero-init, on `device`, in eval mode."""
    with outside_zero3_init():
        model = loader(path, **kwargs)
    return model.to(device).eval()
