"""Reading a stream as the scheduler's consumer group, including entries a dead replica held.

Each scheduler replica is one consumer of ``Group.SCHEDULER``. A replica that
dies between XREADGROUP and its acknowledging script leaves its entries pending;
the survivors take them over with XAUTOCLAIM once they have been idle longer
than ``claim_idle_ms`` (the scripts that apply entries are idempotent, so a
claimed entry applied twice does no harm). The reading rules themselves (group
creation, NOGROUP, own pending entries after a failed read, claiming) are the
library's one read loop, ``conveyor.grouploop``.
"""

from __future__ import annotations

from redis.asyncio import Redis

from conveyor import grouploop
from conveyor.streams import Entry, Group


class GroupReader:
    """The scheduler's reader of one stream: a fixed batch, never blocking (a pass must not)."""

    def __init__(
        self, client: Redis, stream: str, consumer: str, batch: int, claim_idle_ms: int
    ) -> None:
        self.stream = stream
        self.batch = batch
        self.reader = grouploop.GroupReader(
            client, Group.SCHEDULER, consumer, (stream,), claim_idle_ms=claim_idle_ms
        )

    async def read(self, now_ms: int) -> list[Entry]:
        """Entries to apply: own pending after a failed read, stale ones of dead consumers
        first, then new ones."""
        batches = await self.reader.read(self.batch, None, now_ms)
        return [entry for _, entries in batches for entry in entries]
