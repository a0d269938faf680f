"""Which queues an operator paused: the predicate the worker consults before it takes tasks.

Ingest owns the paused-queues hash (``Keys.paused_queues``, written by
``POST /api/v1/queues/{q}/pause|resume``); every worker process reads it with one
HKEYS at most once per ``refresh`` seconds, shared by all its queues. A paused
queue keeps accepting and firing (tasks wait in its stream); this worker reads and
reclaims none of its entries, and the tasks it holds finish and commit as usual.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.pausing import paused_names

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 1.0


class PauseWatch:
    """The paused queues as last read, refreshed at most once per ``refresh`` s."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        *,
        refresh: float = REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._keys = keys
        self._refresh = refresh
        self._monotonic = monotonic
        self._paused: frozenset[str] = frozenset()
        self._expires = -math.inf
        self._lock = asyncio.Lock()
        self._warned = False
        self.reads = 0  # how many times the state was read (tests wait on it)

    async def paused(self, queue: str) -> bool:
        """Whether ``queue`` is paused (as read at most ``refresh`` s ago)."""
        if self._monotonic() >= self._expires:
            async with self._lock:
                if self._monotonic() >= self._expires:
                    self._paused = await self._read()
                    self.reads += 1
                    self._expires = self._monotonic() + self._refresh
        return queue in self._paused

    def fresh_for(self) -> float:
        """Seconds until the next read of the hash (0 when it is due)."""
        return max(self._expires - self._monotonic(), 0.0)

    def block_ms(self, block_ms: int | None) -> int | None:
        """``block_ms`` capped so a blocking read ends by the next refresh (None stays None).

        A read that blocked past the refresh could start tasks of a queue paused meanwhile.
        """
        if block_ms is None:
            return None
        return max(min(block_ms, math.ceil(self.fresh_for() * 1000)), 1)

    async def wait(self) -> None:
        """Wait until the state is due for a refresh: a paused queue's idle step."""
        await asyncio.sleep(max(self.fresh_for(), 0.01))

    async def _read(self) -> frozenset[str]:
        try:
            return await paused_names(self._client, self._keys)
        except redis_errors.NoPermissionError:
            # An ACL file without the worker's read rule: run unpaused rather than stop.
            if not self._warned:
                self._warned = True
                log.exception("paused_queues_unreadable", key=self._keys.paused_queues)
            return frozenset()
