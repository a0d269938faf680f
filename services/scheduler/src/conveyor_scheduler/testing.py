"""Helpers for testing the scheduler against a real Redis: typed stream writes and reads.

redis-py's stream command signatures are wider than the flat ``dict[str, str]``
fields Conveyor uses; these wrappers give tests (and benchmarks) precise types.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope, decode_envelope
from conveyor.events import TaskEvent, decode_event
from conveyor.keys import QueueKeys
from conveyor.streams import Entry, Group


async def xadd(redis: Redis, stream: str, fields: Mapping[str, str]) -> str:
    """XADD ``fields`` to ``stream``; returns the entry id."""
    flat = [item for pair in fields.items() for item in pair]
    entry_id = await redis.execute_command("XADD", stream, "*", *flat)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def xrange(redis: Redis, stream: str) -> list[Entry]:
    """Every entry of ``stream`` as ``(id, fields)`` bytes pairs."""
    reply = await redis.execute_command("XRANGE", stream, "-", "+")
    return [(entry_id, dict(fields)) for entry_id, fields in reply]


async def tasks(redis: Redis, keys: QueueKeys) -> list[TaskEnvelope]:
    """Every task on the queue's task stream, decoded."""
    entries = await xrange(redis, keys.tasks)
    return [decode_envelope(i.decode(), f, keys.queue) for i, f in entries]


async def events(redis: Redis, keys: QueueKeys) -> list[TaskEvent]:
    """Every lifecycle event on the queue's events stream."""
    return [decode_event(fields) for _, fields in await xrange(redis, keys.events)]


async def scheduler_pending(redis: Redis, stream: str) -> int:
    """Entries the scheduler group read from ``stream`` and did not acknowledge."""
    summary = await redis.xpending(stream, Group.SCHEDULER.value)
    return int(summary["pending"])
