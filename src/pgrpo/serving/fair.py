"""`FairShare`: a service's work slots handed out one at a time, round-robin over the clients (peer
addresses) waiting, so a newcomer waits for one slot, never for another's backlog. On the event loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairShare:
    """`permits` slots, granted round-robin over the clients waiting for one."""

    def __init__(self, permits: int) -> None:
        if permits < 1:
            raise ValueError(f"permits: must be >= 1, got {permits}")
        self.permits = permits
        self.used = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()  # next client first

    def waiting(self, client: str | None = None) -> int:
        """Waiters in all (or one client's) queue(s)."""
        queues = self._waiting.values() if client is None else [self._waiting.get(client, deque())]
        return sum(1 for q in queues for f in q if not f.done())

    async def acquire(self, client: str) -> None:
        if self.used < self.permits and not self._waiting:
            self.used += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if client not in self._waiting:
            self._waiting[client] = deque()
            self._waiting.move_to_end(client, last=False)  # not served this round: next
        self._waiting[client].append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled: hand it on
                self.release()
            raise

    def release(self) -> None:
        self.used -= 1
        while self.used < self.permits and self._waiting:
            client, queue = next(iter(self._waiting.items()))
            future = queue.popleft()
            if queue:
                self._waiting.move_to_end(client)  # its next waiter queues behind the other clients
            else:
                del self._waiting[client]
            if not future.done():  # a cancelled waiter is skipped
                self.used += 1
                future.set_result(None)

    @asynccontextmanager
    async def slot(self, client: str) -> AsyncIterator[None]:
        await self.acquire(client)
        try:
            yield
        finally:
            self.release()
