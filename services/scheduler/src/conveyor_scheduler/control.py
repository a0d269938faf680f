"""Control messages for the scheduler: cancel drops a pending timer, replace changes it.

The scheduler reads ``{q}:control`` as its own consumer group (workers read it
as theirs). Each batch is applied and acknowledged in one script. A cancel for a
task with no pending timer is a no-op here; the workers' cancel mark stops it there.

A replace (PUT) changes the task's pending timer when it is a first attempt with
an older revision, so a new due time, earlier or later, holds at once. A timer
changed here carries the new revision, so the workers then find nothing left to
apply. With no timer of the task, the scheduler records the change in its own
keys (``{q}:s:replaces``, newest revision only, kept until the replace's
``until_ms``): a timer not filed yet (an intake backlog, or another replica
holding the entry) gets it applied by intake when it is filed (``intake.py``);
a task promoted already is changed by the workers, which hold the change as a
mark and apply it when they take the task, and the record expires. A cancel
deletes the task's record. Each pass also drops a bounded number of expired
records.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

from conveyor.control import ControlOp, decode_control
from conveyor.keys import QueueKeys
from conveyor.lua import register
from conveyor.streams import Entry, Group
from conveyor_scheduler.reading import GroupReader

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ControlResult:
    """What one control pass did."""

    read: int
    dropped: int
    replaced: int


class ControlConsumer:
    """Applies one queue's control messages to its timer index."""

    def __init__(self, client: Redis, keys: QueueKeys, reader: GroupReader) -> None:
        self._keys = keys
        self._reader = reader
        self._script = register(client, "scheduler_control")

    async def run_once(self, now_ms: int) -> ControlResult:
        """Read one batch of control messages and apply it atomically."""
        entries = await self._reader.read(now_ms)
        if not entries:
            return ControlResult(0, 0, 0)
        args = [op for entry in entries for op in self._op(entry)]
        keys = self._keys
        dropped, replaced = await self._script(
            keys=[
                keys.control,
                keys.timer_index,
                keys.timer_entries,
                keys.replaces,
                keys.replaces_expiry,
            ],
            args=[Group.SCHEDULER.value, str(now_ms), *args],
        )
        return ControlResult(len(entries), int(dropped), int(replaced))

    def _op(self, entry: Entry) -> list[str]:
        raw_id, raw = entry
        entry_id = raw_id.decode()
        try:
            message = decode_control(raw)
        except (ValueError, KeyError) as exc:
            # Not ours to dead-letter: the control stream has no dead letters, and the worker
            # group reads the same entry. Log it (no payload) and move on.
            log.warning("control_message_ignored", entry_id=entry_id, error=str(exc)[:200])
            return ["A", entry_id]
        if message.op is ControlOp.CANCEL:
            return ["C", entry_id, message.task_id]
        revision, at, until = str(message.revision), str(message.at_ms), str(message.until_ms)
        return ["R", entry_id, message.task_id, revision, message.changes, at, until]
