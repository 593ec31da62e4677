"""The thinking reward R_t: a reasoning RM's score in process (`local_thinking`) or served
(`remote_thinking`), each with its running truncation count. A failing service raises, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from pgrpo.rewards.batch import ThinkingFn, TruncationCount

if TYPE_CHECKING:
    from pgrpo.rm.backends import RMBackend
    from pgrpo.rm.scoring import RMItem


class ItemScorer(Protocol):
    """What R_t needs from a scorer: `RewardScorer` and `RMClient` both are one."""

    truncated: int

    def score(self, items: Sequence[RMItem]) -> list[float]: ...


def rm_thinking_fn(scorer: ItemScorer) -> ThinkingFn:
    """Thinking reward from a scorer whose scores are already in [0, 1]: the scorer's own `score`
    (no wrapper between the RM and the evaluator; the evaluator checks each score's range and never
    calls it with no items)."""
    return scorer.score


def local_thinking(rm_path: str, *, batch_size: int, max_length: int | None,
                   device: str) -> tuple[ThinkingFn, TruncationCount]:
    """R_t from the RM in `rm_path`, loaded in this process (whole, on `device`, outside ZeRO-3's
    zero-init: `pgrpo.rm.loading`)."""
    from pgrpo.rm.scoring import RewardScorer

    scorer = RewardScorer(rm_path, batch_size=batch_size, max_length=max_length, device=device)
    return rm_thinking_fn(scorer), lambda: scorer.truncated


def remote_thinking(urls: Sequence[str], *, items_per_request: int, timeout_s: float,
                    retries: int, backend: RMBackend | None = None) -> tuple[ThinkingFn, TruncationCount]:
    """R_t from `pgrpo rm serve` (or another `pgrpo.rm.backends` server) at `urls` (token: env
    PGRPO_RM_TOKEN); its manifest is read now."""
    from pgrpo.rm.client import RMClient

    client = RMClient(urls, items_per_request=items_per_request, timeout_s=timeout_s, retries=retries,
                      backend=backend)
    _ = client.manifest  # an unreachable service fails here, before training starts
    return rm_thinking_fn(client), lambda: client.truncated
