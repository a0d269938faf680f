"""Timer intake: the ``{q}:timers-in`` stream into the timer index, one atomic step per batch.

Ingest (delayed tasks) and workers (retries, deferrals) XADD timer messages;
each replica reads a batch as a consumer of the scheduler group and files it
with one script: ZADD the index, HSET the entry, XADD a SCHEDULED event and
XACK, for every entry of the batch. A crash before the script leaves the batch
pending for another replica; a crash after it loses nothing. An entry that is
not a valid timer goes to the queue's dead-letter stream with its reason, in
the same step as its XACK.

A PUT's replace that reached the scheduler before its timer was filed (an intake
backlog, or another replica holding the entry) found no timer to change; the
control step recorded it (``{q}:s:replaces``, see ``control.py``). The same step
that files a timer takes its task's unexpired record and applies it when it is
newer than the timer, by the control path's rules (``timer_changes.lua``), so the
timer is promoted at the changed due time. The record is deleted either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

from conveyor.deadletter import DeadReason, dead_fields
from conveyor.errors import EnvelopeDecodeError
from conveyor.events import TaskEventType, event_fields
from conveyor.keys import QueueKeys
from conveyor.lua import register
from conveyor.streams import Entry, Group
from conveyor.timers import decode_timer
from conveyor_scheduler.entries import flatten, stored_entry
from conveyor_scheduler.reading import GroupReader

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What one intake pass did."""

    filed: int
    dead: int
    replaced: int = 0  # filed timers that a recorded newer change (a PUT) applied to


class TimerIntake:
    """Files one queue's timer messages into its timer index."""

    def __init__(self, client: Redis, keys: QueueKeys, reader: GroupReader) -> None:
        self._keys = keys
        self._reader = reader
        self._script = register(client, "scheduler_intake")

    async def run_once(self, now_ms: int) -> IntakeResult:
        """Read one batch and file it atomically; returns the counts."""
        entries = await self._reader.read(now_ms)
        if not entries:
            return IntakeResult(0, 0)
        args, dead = self._ops(entries, now_ms)
        keys = self._keys
        filed, replaced = await self._script(
            keys=[
                keys.timers_in,
                keys.timer_index,
                keys.timer_entries,
                keys.events,
                keys.dead,
                keys.replaces,
                keys.replaces_expiry,
            ],
            args=[Group.SCHEDULER.value, str(now_ms), *args],
        )
        if dead:
            log.warning("timers_dead_lettered", queue=keys.queue, count=dead)
        return IntakeResult(int(filed), dead, int(replaced))

    def _ops(self, entries: list[Entry], now_ms: int) -> tuple[list[str | bytes], int]:
        args: list[str | bytes] = []
        dead = 0
        for raw_id, raw in entries:
            entry_id = raw_id.decode()
            try:
                timer = decode_timer(entry_id, raw, self._keys.queue)
            except EnvelopeDecodeError as exc:
                dead += 1
                fields = dead_fields(raw, DeadReason.UNDECODABLE, exc.reason, 0, now_ms, entry_id)
                flat = [item for pair in fields.items() for item in pair]
                args += ["D", entry_id, str(len(flat)), *flat]
                continue
            event = event_fields(
                TaskEventType.SCHEDULED, timer.envelope, at_ms=now_ms, due_ms=timer.due_ms
            )
            flat_event = flatten(event)
            args += ["F", entry_id, timer.envelope.id, str(timer.due_ms), stored_entry(timer)]
            args += [str(len(flat_event)), *flat_event]
        return args, dead
