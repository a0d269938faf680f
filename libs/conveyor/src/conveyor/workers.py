"""Worker heartbeat records: what a worker writes about itself and how listings read it.

The worker (``conveyor_worker.heartbeat``) writes a :class:`WorkerRecord` as a flat
hash at ``Keys.worker_heartbeat(consumer)`` with a TTL, and its last heartbeat (ms)
as its score in ``Keys.worker_index``. A reader lists the index and reads each
hash; a member whose hash expired (a killed worker) is skipped.

| field | value |
|---|---|
| ``consumer`` | the worker's consumer name in the ``workers`` group |
| ``host``, ``pid``, ``version`` | where it runs and what version of conveyor-worker |
| ``queues`` | JSON list of the shards it reads (``emails``, ``emails~1``, ...) |
| ``concurrency``, ``in_flight`` | its handler limit and the tasks it holds now |
| ``started_ms``, ``heartbeat_ms`` | process start and this heartbeat, Unix ms |
| ``ttl_ms`` | how long this heartbeat lives unless refreshed |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from conveyor import jsoncodec
from conveyor.envelope import as_text
from conveyor.keys import Keys


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One worker process as its last heartbeat described it."""

    consumer: str
    host: str
    pid: int
    version: str
    queues: tuple[str, ...]
    concurrency: int
    in_flight: int
    started_ms: int
    heartbeat_ms: int
    ttl_ms: int

    def to_fields(self) -> dict[str, str]:
        """The hash's fields (flat strings, readable in redis-cli)."""
        fields = {name: str(value) for name, value in asdict(self).items()}
        fields["queues"] = jsoncodec.dumps(list(self.queues))
        return fields

    @classmethod
    def from_fields(cls, raw: Mapping[bytes, bytes] | Mapping[str, str]) -> WorkerRecord:
        """Decode a hash; raises ValueError (or KeyError) on anything malformed."""
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        queues = jsoncodec.loads(fields["queues"])
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            msg = "queues must be a JSON list of names"
            raise ValueError(msg)
        ints = {
            name: int(fields[name])
            for name in ("pid", "concurrency", "in_flight", "started_ms", "heartbeat_ms", "ttl_ms")
        }
        return cls(
            consumer=fields["consumer"], host=fields["host"], version=fields["version"],
            queues=tuple(queues), **ints,
        )  # fmt: skip


async def list_workers(client: Redis, keys: Keys) -> list[WorkerRecord]:
    """Every worker whose heartbeat has not expired, by consumer name."""
    members: list[Any] = await client.zrange(keys.worker_index, 0, -1)
    if not members:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for member in members:
            pipe.hgetall(keys.worker_heartbeat(as_text(member)))
        replies: list[Any] = await pipe.execute()
    records = []
    for raw in replies:
        if not raw:
            continue  # expired: the worker stopped beating
        try:
            records.append(WorkerRecord.from_fields(raw))
        except (KeyError, ValueError):
            continue  # written by a different version: skipped rather than failing the list
    return sorted(records, key=lambda record: record.consumer)
