"""Reading a stream as the scheduler's consumer group, including entries a dead replica held.

Each scheduler replica is one consumer of ``Group.SCHEDULER``. A replica that
dies between XREADGROUP and its acknowledging script leaves its entries pending;
the survivors take them over with XAUTOCLAIM once they have been idle longer
than ``claim_idle_ms`` (the scripts that apply entries are idempotent, so a
claimed entry applied twice does no harm).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.streams import Entry, Group, ensure_group, read_reply_entries

log = structlog.get_logger(__name__)


@dataclass
class GroupReader:
    """Reads one stream as one consumer of the scheduler group, never blocking."""

    client: Redis
    stream: str
    consumer: str
    batch: int
    claim_idle_ms: int
    _ready: bool = field(default=False, init=False)
    _last_claim_ms: int = field(default=0, init=False)

    async def read(self, now_ms: int) -> list[Entry]:
        """Entries to apply: stale ones of dead consumers first, then new ones."""
        if not self._ready:
            await ensure_group(self.client, self.stream, Group.SCHEDULER)
            self._ready = True
        try:
            return await self._read(now_ms)
        except redis_errors.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or its group is gone (deleted, or lost in a failover before it
            # reached the replica): recreate it on the next read, from id 0.
            log.warning("consumer_group_missing", stream=self.stream)
            self._ready = False
            return []

    async def _read(self, now_ms: int) -> list[Entry]:
        entries = await self._claim(now_ms)
        if len(entries) < self.batch:
            reply = await self.client.xreadgroup(
                Group.SCHEDULER, self.consumer, {self.stream: ">"}, count=self.batch - len(entries)
            )
            for _stream, new in read_reply_entries(reply):
                entries.extend(new)
        return entries

    async def _claim(self, now_ms: int) -> list[Entry]:
        # Claiming is rare work (only after a replica died): do it at most every half idle period.
        if now_ms - self._last_claim_ms < self.claim_idle_ms // 2:
            return []
        self._last_claim_ms = now_ms
        reply = await self.client.xautoclaim(
            self.stream, Group.SCHEDULER, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
        )
        claimed = [(entry_id, fields) for entry_id, fields in reply[1] if fields is not None]
        if claimed:
            log.warning("stale_entries_claimed", stream=self.stream, count=len(claimed))
        return claimed
