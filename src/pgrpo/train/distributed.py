"""The collectives pgrpo uses under multi-process training (torchrun / accelerate / DeepSpeed).

`gather_json`: every rank's JSON value on every rank (uint8 tensors: no pickle; gloo and NCCL);
`agree`: every rank raises `RankFailure` when a step failed on any; `first_per_node_then_rest`.
Every rank must call them at the same point.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from pgrpo.errors import RankFailure, name_ranks

T = TypeVar("T")


def _group() -> Any | None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist
    return None


def rank() -> int:
    """This process's global rank (0 alone writes files): the process group's, else torchrun's RANK."""
    dist = _group()
    return int(dist.get_rank()) if dist is not None else int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's rank on its node (its GPU index): torchrun's / accelerate's LOCAL_RANK."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def gather_json(value: Any) -> list[Any]:
    """[rank 0's value, rank 1's value, ...] on every rank; a collective (all ranks must call it)."""
    dist = _group()
    if dist is None:
        return [value]
    import torch

    device = (torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl"
              else torch.device("cpu"))
    world = dist.get_world_size()
    data = json.dumps(value).encode("utf-8")
    size = torch.tensor([len(data)], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    lengths = [int(s.item()) for s in sizes]
    buffer = torch.zeros(max(lengths), dtype=torch.uint8, device=device)
    if data:
        buffer[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
    buffers = [torch.empty_like(buffer) for _ in range(world)]
    dist.all_gather(buffers, buffer)
    return [json.loads(b[:n].cpu().numpy().tobytes().decode("utf-8")) for b, n in zip(buffers, lengths)]


def agree(what: str, error: BaseException | None) -> None:
    """A collective: raise `RankFailure` on every rank when `what` failed on any (`error` is this
    rank's failure, or None). A single process re-raises its own error unchanged."""
    if _group() is None:
        if error is not None:
            raise error
        return
    reports = gather_json(None if error is None else f"{type(error).__name__}: {error}")
    failed = [(r, message) for r, message in enumerate(reports) if message is not None]
    if failed:
        raise RankFailure(f"{what} failed on {len(failed)} of {len(reports)} ranks, so every rank stops: "
                          f"{name_ranks(failed)}") from error


def agreed(what: str, build: Callable[[], T], run: bool = True) -> T:
    """`build()` (where `run`), then `agree` on its failure (a collective); its result (None if not run)."""
    result: T | None = None
    error: Exception | None = None
    if run:
        try:
            result = build()
        except Exception as exc:  # reported to every rank, then raised
            error = exc
    agree(what, error)
    return cast(T, result)


def first_per_node_then_rest(what: str, build: Callable[[], T]) -> T:
    """`build()` on each node's local rank 0 first (it may write files the others read), then on the
    other ranks; every rank raises `RankFailure` naming the rank if it failed anywhere (a collective)."""
    first = local_rank() == 0
    early = agreed(f"{what} (each node's first rank)", build, run=first)
    late = agreed(what, build, run=not first)
    return early if first else late
