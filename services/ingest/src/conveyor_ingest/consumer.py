"""The read-model consumer: lifecycle events and applied schedule changes, group ``ingest``.

Reads every queue's events stream and the applied-schedules stream with one
XREADGROUP (on Redis Cluster: one blocking call per stream, side by side, since
one call may name streams of one slot only) and commits each stream's batch with
one script that updates the read model and XACKs. Entries left pending by a
consumer that died are claimed after CLAIM_IDLE_MS. Entries that do not decode
are acknowledged and logged, never retried.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import structlog
from redis.asyncio import Redis

from conveyor.events import TaskEvent, TaskEventType, decode_event
from conveyor.grouploop import GroupReader, run_guarded
from conveyor.keys import Keys
from conveyor.lua import register
from conveyor.producing.tasks import now_ms
from conveyor.producing.writes import (
    RANK_FINAL,
    RANK_QUEUED,
    RANK_RETRYING,
    RANK_STARTED,
    index_member,
)
from conveyor.records import bucket_key
from conveyor.schedules import ChangeOp, decode_change
from conveyor.streams import Entry, Group
from conveyor_ingest.models import TaskStatus

log = structlog.get_logger(__name__)

BLOCK_MS = 1000
COUNT = 500
CLAIM_IDLE_MS = 60_000  # claimed every half of it (conveyor.grouploop)

_STATUS = {
    TaskEventType.PENDING: (TaskStatus.PENDING, RANK_QUEUED),
    TaskEventType.SCHEDULED: (TaskStatus.SCHEDULED, RANK_QUEUED),
    TaskEventType.STARTED: (TaskStatus.RUNNING, RANK_STARTED),
    TaskEventType.RETRYING: (TaskStatus.RETRYING, RANK_RETRYING),
    TaskEventType.SUCCEEDED: (TaskStatus.SUCCEEDED, RANK_FINAL),
    TaskEventType.DEAD: (TaskStatus.DEAD, RANK_FINAL),
    TaskEventType.CANCELLED: (TaskStatus.CANCELLED, RANK_FINAL),
    TaskEventType.DROPPED: (TaskStatus.CANCELLED, RANK_FINAL),
}


# Outcome counters (QueueKeys.counters) by event: what the history of a queue charts.
COUNTED = {
    TaskEventType.SUCCEEDED: "succeeded",
    TaskEventType.RETRYING: "retried",
    TaskEventType.DEAD: "dead",
    TaskEventType.CANCELLED: "cancelled",
    TaskEventType.DROPPED: "cancelled",
}


def consumer_name() -> str:
    """This process's consumer name in the ingest group."""
    return f"ingest-{socket.gethostname()}-{os.getpid()}"


def event_change(event: TaskEvent) -> tuple[int, list[str], list[str]]:
    """(order, fields of a record first seen here, fields this event sets)."""
    create = {
        "id": event.task_id,
        "type": event.type,
        "queue": event.queue,
        "subject": event.subject,
        "origin": event.origin,
        "created_ms": str(event.at_ms),
        "attempts": "0",
        "status": TaskStatus.PENDING.value,
    }
    if event.event is TaskEventType.PROGRESS:
        # Ranked as its attempt's start: applies while that attempt runs, never after.
        report = ["progress", str(event.progress), "progress_message", event.progress_message or ""]
        return event.attempt * 10 + RANK_STARTED, _flat(create), report
    mapped = _STATUS.get(event.event)
    if mapped is None:  # UPDATED changes nothing the read model shows beyond PUT's own write
        return 0, _flat(create), []
    status, rank = mapped
    update = {"status": status.value, "attempt": str(event.attempt)}
    if rank >= RANK_STARTED:
        update["attempts"] = str(_attempts_run(event))
    if event.event is TaskEventType.STARTED:
        update["started_ms"] = str(event.at_ms)
        # The revision that ran: below the record's, a change (PUT) came too late.
        update["run_revision"] = str(event.revision)
        if event.attempt > 1:  # a retry starts without the last attempt's progress
            update["progress"] = update["progress_message"] = ""
    if event.due_ms is not None:
        update["due_ms"] = str(event.due_ms)
    if rank == RANK_FINAL:
        update["finished_ms"] = str(event.at_ms)
        update["result"] = event.result or ""
    error = event.error or ""
    update["error"] = f"dropped: {error}" if event.event is TaskEventType.DROPPED else error
    return event.attempt * 10 + rank, _flat(create), _flat(update)


def _attempts_run(event: TaskEvent) -> int:
    """How many attempts had started when ``event`` happened.

    A cancel is decided before its attempt starts (the worker turns that attempt's
    start into ``cancelled``), so that attempt never ran; every other event at or past
    ``started`` reports an attempt that ran.
    """
    if event.event is TaskEventType.CANCELLED:
        return event.attempt - 1
    return event.attempt


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


class ReadModelConsumer:
    """Keeps the read model and the schedule listing up to date."""

    def __init__(self, client: Redis, keys: Keys, retention_s: float) -> None:
        self._client = client
        self._keys = keys
        self._retention_ms = int(retention_s * 1000)
        self._apply = register(client, "ingest_apply_events")
        self._schedules = register(client, "ingest_schedules")
        self._consumer = consumer_name()
        # Events stream -> its shard name (the queue name, or <queue>~<p> for a partition).
        self._queue_of = {qk.events.encode(): qk.shard for qk in keys.all_queues()}
        streams = [*(s.decode() for s in self._queue_of), keys.schedule_applied]
        self._reader = GroupReader(
            client, Group.INGEST, self._consumer, streams, claim_idle_ms=CLAIM_IDLE_MS
        )

    async def ensure_groups(self) -> None:
        """Create the ingest group on every stream it reads."""
        await self._reader.ensure_groups()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; failures are logged and retried (conveyor.grouploop)."""
        await run_guarded(stop, "read_model_step_failed", self.step)

    async def step(self, block_ms: int = BLOCK_MS) -> int:
        """Read one batch of each stream and apply it; returns entries handled."""
        now = int(time.monotonic() * 1000)
        handled = 0
        for stream, entries in await self._reader.read(COUNT, block_ms, now):
            handled += await self._handle(stream.encode(), entries)
        return handled

    async def _handle(self, stream: bytes, entries: Sequence[Entry]) -> int:
        if not entries:
            return 0
        if stream == self._keys.schedule_applied.encode():
            return await self._apply_schedules(entries)
        return await self._apply_events(stream, entries)

    async def _apply_events(self, stream: bytes, entries: Sequence[Entry]) -> int:
        qk = self._keys.queue(self._queue_of[stream])
        keys: list[Any] = [stream, qk.status_index, qk.counters]
        args: list[Any] = [Group.INGEST.value, self._retention_ms, now_ms(), qk.queue]
        bad: list[bytes] = []
        for entry_id, fields in entries:
            try:
                event = decode_event(fields)
            except (ValueError, KeyError) as exc:
                log.warning("event_undecodable", entry_id=entry_id.decode(), error=str(exc))
                bad.append(entry_id)
                continue
            order, create, update = event_change(event)
            keys += [qk.task_status(event.task_id), bucket_key(qk, event.task_id)]
            args += [entry_id, order, index_member(event.at_ms, event.task_id), event.task_id]
            args += [COUNTED.get(event.event, ""), len(create), *create, len(update), *update]
        if len(keys) > 3:
            await self._apply(keys=keys, args=args)
        if bad:
            await self._client.xack(stream, Group.INGEST, *bad)
        return len(entries)

    async def _apply_schedules(self, entries: Sequence[Entry]) -> int:
        args: list[Any] = [Group.INGEST.value]
        for entry_id, fields in entries:
            try:
                op, schedule_id, definition, meta = decode_change(fields)
            except (ValueError, KeyError) as exc:
                log.warning(
                    "schedule_change_undecodable", entry_id=entry_id.decode(), error=str(exc)
                )
                await self._client.xack(self._keys.schedule_applied, Group.INGEST, entry_id)
                continue
            value = definition.model_dump_json() if definition is not None else ""
            op_name = "delete" if op is ChangeOp.DELETE else "upsert"
            args += [entry_id, op_name, schedule_id, value, meta["seq"]]
        if len(args) > 1:
            keys = [
                self._keys.schedule_applied,
                self._keys.schedule_listing,
                self._keys.schedule_pending,
            ]
            await self._schedules(keys=keys, args=args)
        return len(entries)
