"""Leases: renew the entries this process runs, and claim entries whose worker stalled."""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis

from conveyor.lua import register
from conveyor.streams import Entry, Group
from conveyor_worker.dispatcher import Dispatcher
from conveyor_worker.metrics import WorkerMetrics

log = structlog.get_logger(__name__)

RENEW_CHUNK = 500


class LeaseKeeper:
    """Renews running entries' leases and reclaims stalled ones for one queue."""

    def __init__(
        self,
        client: Redis,
        dispatcher: Dispatcher,
        consumer: str,
        visibility_ms: int,
        batch: int,
        metrics: WorkerMetrics,
    ) -> None:
        self._client = client
        self._dispatcher = dispatcher
        self._consumer = consumer
        self._visibility_ms = visibility_ms
        self._batch = batch
        self._metrics = metrics
        self._stream = dispatcher.queue_keys.tasks
        self._renew = register(client, "worker_renew")
        self._reclaim = register(client, "worker_reclaim")
        self._cursor = "0-0"

    async def renew(self) -> int:
        """Renew every running entry still ours; returns how many were renewed."""
        ids = self._dispatcher.running_entries()
        renewed = 0
        for start in range(0, len(ids), RENEW_CHUNK):
            chunk = ids[start : start + RENEW_CHUNK]
            args = [Group.WORKERS.value, self._consumer, *chunk]
            owned = await self._renew(keys=[self._stream], args=args, client=self._client)
            owned_ids = {item.decode() for item in owned}
            renewed += len(owned_ids)
            lost = [i for i in chunk if i not in owned_ids and self._dispatcher.holds(i)]
            if lost:
                # Another consumer claimed them; our commit will be a no-op for effects.
                self._metrics.leases_lost.labels(self._dispatcher.queue_keys.queue).inc(len(lost))
                log.warning("leases_lost", count=len(lost), first_entry_id=lost[0])
        return renewed

    async def reclaim(self) -> int:
        """Claim entries idle past the visibility timeout and dispatch them; returns count."""
        free = min(self._dispatcher.free_slots, self._batch)
        if free == 0:
            return 0
        idle = str(self._visibility_ms)
        args = [Group.WORKERS.value, self._consumer, idle, self._cursor, str(free)]
        reply = await self._reclaim(keys=[self._stream], args=args, client=self._client)
        cursor, raw_entries, deleted, counts = reply
        self._cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        queue = self._dispatcher.queue_keys.queue
        if deleted:
            # Trimmed while pending: the entry is gone, nothing to run; report it.
            self._metrics.deleted_pending.labels(queue).inc(len(deleted))
            log.warning("pending_entries_deleted", count=len(deleted), queue=queue)
        entries = [_entry(item) for item in raw_entries]
        if entries:
            self._metrics.reclaimed.labels(queue).inc(len(entries))
            log.info("entries_reclaimed", count=len(entries), queue=queue)
            self._dispatcher.dispatch(entries, [int(c) for c in counts])
        return len(entries)


def _entry(item: Any) -> Entry:
    entry_id, flat = item[0], item[1] or []
    return entry_id, dict(zip(flat[::2], flat[1::2], strict=True))
