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
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.connection import TRANSIENT_ERRORS, is_cluster
from conveyor.events import TaskEvent, TaskEventType, decode_event
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
from conveyor.streams import Entry, Group, ensure_group, read_reply_entries
from conveyor_ingest.models import TaskStatus

log = structlog.get_logger(__name__)

BLOCK_MS = 1000
COUNT = 500
CLAIM_IDLE_MS = 60_000
CLAIM_EVERY_S = 30.0

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
    mapped = _STATUS.get(event.event)
    if mapped is None:  # UPDATED changes nothing the read model shows beyond PUT's own write
        return 0, _flat(create), []
    status, rank = mapped
    update = {"status": status.value, "attempt": str(event.attempt)}
    if rank >= RANK_STARTED:
        update["attempts"] = str(event.attempt)
    if event.event is TaskEventType.STARTED:
        update["started_ms"] = str(event.at_ms)
        # The revision that ran: below the record's, a change (PUT) came too late.
        update["run_revision"] = str(event.revision)
    if event.due_ms is not None:
        update["due_ms"] = str(event.due_ms)
    if rank == RANK_FINAL:
        update["finished_ms"] = str(event.at_ms)
        update["result"] = event.result or ""
    error = event.error or ""
    update["error"] = f"dropped: {error}" if event.event is TaskEventType.DROPPED else error
    return event.attempt * 10 + rank, _flat(create), _flat(update)


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
        self._last_claim = 0.0

    async def ensure_groups(self) -> None:
        """Create the ingest group on every stream it reads."""
        for stream in [*self._queue_of, self._keys.schedule_applied.encode()]:
            await ensure_group(self._client, stream.decode(), Group.INGEST)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; Redis outages are logged and retried."""
        while not stop.is_set():
            try:
                await self.step()
            except TRANSIENT_ERRORS as exc:
                log.warning("read_model_redis_unavailable", error=str(exc))
                await asyncio.sleep(1.0)
            except redis_errors.ResponseError as exc:
                log.warning("read_model_step_failed", error=str(exc))
                await self.ensure_groups()
                await asyncio.sleep(0.5)
            except Exception:
                # A background loop must not die quietly inside a live API process (the
                # read model would stop): e.g. redis-py's cluster client has raised
                # AttributeError from a connection torn down during a failover.
                log.exception("read_model_step_crashed")
                await asyncio.sleep(1.0)

    async def step(self, block_ms: int = BLOCK_MS) -> int:
        """Read one batch of each stream and apply it; returns entries handled."""
        streams: dict[Any, Any] = {
            s: ">" for s in [*self._queue_of, self._keys.schedule_applied.encode()]
        }
        # On Cluster one XREADGROUP may only name streams of one slot: read each on its own.
        reads: list[dict[Any, Any]] = (
            [{s: ">"} for s in streams] if is_cluster(self._client) else [streams]
        )
        replies = await asyncio.gather(
            *(
                self._client.xreadgroup(
                    Group.INGEST, self._consumer, read, count=COUNT, block=block_ms
                )
                for read in reads
            )
        )
        handled = 0
        for stream, entries in [pair for reply in replies for pair in read_reply_entries(reply)]:
            handled += await self._handle(stream, entries)
        if time.monotonic() - self._last_claim > CLAIM_EVERY_S:
            self._last_claim = time.monotonic()
            handled += await self._claim_stale()
        return handled

    async def _claim_stale(self) -> int:
        handled = 0
        for stream in [*self._queue_of, self._keys.schedule_applied.encode()]:
            reply = await self._client.xautoclaim(
                stream, Group.INGEST, self._consumer, CLAIM_IDLE_MS, "0-0", count=COUNT
            )
            handled += await self._handle(stream, list(reply[1]))
        return handled

    async def _handle(self, stream: bytes, entries: Sequence[Entry]) -> int:
        if not entries:
            return 0
        if stream == self._keys.schedule_applied.encode():
            return await self._apply_schedules(entries)
        return await self._apply_events(stream, entries)

    async def _apply_events(self, stream: bytes, entries: Sequence[Entry]) -> int:
        qk = self._keys.queue(self._queue_of[stream])
        keys: list[Any] = [stream, qk.status_index]
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
            args += [len(create), *create, len(update), *update]
        if len(keys) > 2:
            await self._apply(keys=keys, args=args)
        if bad:
            await self._client.xack(stream, Group.INGEST, *bad)
        return len(entries)

    async def _apply_schedules(self, entries: Sequence[Entry]) -> int:
        args: list[Any] = [Group.INGEST.value]
        for entry_id, fields in entries:
            try:
                op, schedule_id, definition, _ = decode_change(fields)
            except (ValueError, KeyError) as exc:
                log.warning(
                    "schedule_change_undecodable", entry_id=entry_id.decode(), error=str(exc)
                )
                await self._client.xack(self._keys.schedule_applied, Group.INGEST, entry_id)
                continue
            value = definition.model_dump_json() if definition is not None else ""
            args += [entry_id, "delete" if op is ChangeOp.DELETE else "upsert", schedule_id, value]
        if len(args) > 1:
            keys = [self._keys.schedule_applied, self._keys.schedule_listing]
            await self._schedules(keys=keys, args=args)
        return len(entries)
