"""Worker heartbeats: each worker process describes itself in a key that expires.

Every ``interval`` seconds the worker writes, in one MULTI/EXEC, its
``conveyor.workers.WorkerRecord`` as a hash (``Keys.worker_heartbeat``) with a TTL
of ``TTL_FACTOR`` intervals, and its last heartbeat (ms) as its score in the index
(``Keys.worker_index``). A clean stop deletes both; a killed worker's hash expires
and listings skip it. Index members whose hash is gone are pruned by every beat
once far older than the TTL (the margin keeps listed a live worker whose host's
clock lags). Ingest reads both for GET /api/v1/workers.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import replace

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor._version import __version__
from conveyor.keys import Keys
from conveyor.workers import WorkerRecord

log = structlog.get_logger(__name__)

# A heartbeat lives this many intervals: two beats may be missed before the worker vanishes.
TTL_FACTOR = 3
# Index members older than this many TTLs are pruned (their hash expired long ago).
PRUNE_FACTOR = 10


def this_process(
    consumer: str, queues: tuple[str, ...], concurrency: int, started_ms: int
) -> WorkerRecord:
    """The running process's record before its first beat (host name, pid, version)."""
    return WorkerRecord(
        consumer=consumer, host=socket.gethostname(), pid=os.getpid(),
        version=__version__, queues=queues, concurrency=concurrency,
        in_flight=0, started_ms=started_ms, heartbeat_ms=started_ms, ttl_ms=0,
    )  # fmt: skip


class Heartbeat:
    """Writes one worker's heartbeat every ``interval`` s; removes it on a clean stop."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        identity: WorkerRecord,
        in_flight: Callable[[], int],
        interval: float,
        clock: Callable[[], int],
    ) -> None:
        self._client = client
        self.ttl_ms = max(round(interval * TTL_FACTOR * 1000), 1)
        self._identity = replace(identity, ttl_ms=self.ttl_ms)
        self._in_flight = in_flight
        self._interval = interval
        self._clock = clock
        self._key = keys.worker_heartbeat(identity.consumer)
        self._index = keys.worker_index

    def record(self, now_ms: int) -> WorkerRecord:
        """The record at ``now_ms``."""
        return replace(self._identity, in_flight=self._in_flight(), heartbeat_ms=now_ms)

    async def beat(self) -> None:
        """Write the record, its TTL and the index entry in one step."""
        now = self._clock()
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, mapping=self.record(now).to_fields())  # type: ignore[arg-type]
            pipe.pexpire(self._key, self.ttl_ms)
            pipe.zadd(self._index, {self._identity.consumer: now})
            pipe.zremrangebyscore(self._index, "-inf", now - PRUNE_FACTOR * self.ttl_ms)
            await pipe.execute()

    async def remove(self) -> None:
        """Delete the record and its index entry (a clean stop)."""
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key)
            pipe.zrem(self._index, self._identity.consumer)
            await pipe.execute()

    async def run(self, stop: asyncio.Event) -> None:
        """Beat now and every ``interval`` s until ``stop``; Redis errors are logged, not fatal."""
        while not stop.is_set():
            try:
                await self.beat()
            except (redis_errors.RedisError, OSError) as exc:
                log.warning("heartbeat_failed", error=str(exc)[:200])
            try:
                async with asyncio.timeout(self._interval):
                    await stop.wait()
            except TimeoutError:
                pass
