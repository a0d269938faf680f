"""Helpers for testing handlers and the worker against a real Redis: decoded stream views."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from conveyor.deadletter import DeadLetter, decode_dead_letter
from conveyor.events import TaskEvent, TaskEventType, decode_event
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import QueueKeys
from conveyor.streams import Entry, Group, read_reply_entries
from conveyor.timers import Timer, decode_timer


def recording_registry(task_type: str = "t.rec") -> tuple[Registry, list[tuple[Any, int]]]:
    """A registry whose ``task_type`` handler records (payload, revision) of every run."""
    registry = Registry()
    runs: list[tuple[Any, int]] = []

    @registry.handler(task_type)
    async def record(ctx: TaskContext, payload: Any) -> Any:
        runs.append((payload, ctx.envelope.revision))
        return payload

    return registry, runs


class StreamView:
    """Reads what workers wrote on one queue's streams, decoded."""

    def __init__(self, redis: Redis, queue_keys: QueueKeys) -> None:
        self.redis = redis
        self.q = queue_keys

    async def events(self) -> list[TaskEvent]:
        """Every lifecycle event on the queue's events stream."""
        return [decode_event(fields) for _, fields in await xrange(self.redis, self.q.events)]

    async def event_types(self, task_id: str) -> list[TaskEventType]:
        """The events of one task, in order."""
        return [e.event for e in await self.events() if e.task_id == task_id]

    async def dead(self) -> list[DeadLetter]:
        """Every dead letter."""
        entries = await xrange(self.redis, self.q.dead)
        return [decode_dead_letter(i.decode(), f) for i, f in entries]

    async def timers(self) -> list[Timer]:
        """Every timer message on timers-in."""
        entries = await xrange(self.redis, self.q.timers_in)
        return [decode_timer(i.decode(), f, self.q.queue) for i, f in entries]

    async def pending(self) -> int:
        """Entries delivered to the workers group and not acknowledged."""
        summary = await self.redis.xpending(self.q.tasks, Group.WORKERS.value)
        return int(summary["pending"])


async def xrange(redis: Redis, stream: str) -> list[Entry]:
    """Every entry of ``stream`` as ``(id, fields)`` bytes pairs."""
    reply = await redis.execute_command("XRANGE", stream, "-", "+")
    return [(entry_id, dict(fields)) for entry_id, fields in reply]


async def read_as(redis: Redis, stream: str, consumer: str, count: int = 100) -> list[Entry]:
    """XREADGROUP (workers group) as ``consumer``: play a worker that read and then died."""
    reply = await redis.execute_command(
        "XREADGROUP", "GROUP", Group.WORKERS.value, consumer, "COUNT", count, "STREAMS", stream, ">"
    )
    return [entry for _, batch in read_reply_entries(reply) for entry in batch]


async def pending_idle_past(redis: Redis, stream: str, idle_ms: int) -> bool:
    """Whether the workers group has pending entries, all idle for at least ``idle_ms``."""
    rows: list[dict[str, Any]] = await redis.xpending_range(
        stream, Group.WORKERS.value, "-", "+", 1000
    )
    return bool(rows) and all(int(row["time_since_delivered"]) >= idle_ms for row in rows)
