"""The schedule store: the scheduler's own copy of every schedule definition.

Changes arrive on ``Keys.schedule_changes`` (from the ingest API) and from the
schedules file. Both go through one script that updates the store hash,
publishes the change on ``Keys.schedule_applied`` (so ingest lists file
schedules too) and, for a stream change, XACKs it: one atomic step. The
consumer group hands each change to one replica; every replica fires from the
store, so all of them see every change.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis

from conveyor.envelope import as_text
from conveyor.keys import Keys
from conveyor.lua import register
from conveyor.schedules import ChangeOp, ScheduleDefinition, change_fields, decode_change
from conveyor.streams import Entry, Group
from conveyor_scheduler.entries import flatten
from conveyor_scheduler.reading import GroupReader

log = structlog.get_logger(__name__)

FILE = "file"  # the ``source`` of changes that come from the schedules file


class ScheduleStore:
    """Applies schedule changes and reads the stored definitions."""

    def __init__(self, client: Redis, keys: Keys, reader: GroupReader) -> None:
        self._client = client
        self._keys = keys
        self._reader = reader
        self._script = register(client, "scheduler_apply")
        self._parsed: dict[str, tuple[bytes | str, ScheduleDefinition]] = {}
        self.retimed: dict[str, int] = {}

    async def consume_once(self, now_ms: int) -> int:
        """Apply one batch of changes from the changes stream; returns how many were applied."""
        entries = await self._reader.read(now_ms)
        if not entries:
            return 0
        return await self._apply([op for entry in entries for op in self._stream_op(entry)])

    async def apply_file(self, definitions: Iterable[ScheduleDefinition], now_ms: int) -> int:
        """Make the store match the schedules file through the same atomic path.

        Upserts every definition; deletes the schedules an earlier file defined and this
        one no longer does, unless the API has changed them since (then they are the API's).
        """
        ops: list[str] = []
        ids: set[str] = set()
        for definition in definitions:
            fields = change_fields(ChangeOp.UPSERT, definition.id, now_ms, FILE, definition)
            ops += _apply_op("", ChangeOp.UPSERT, definition.id, fields)
            ids.add(definition.id)
        owned = {as_text(raw) for raw in await self._client.smembers(self._keys.schedule_file_ids)}
        for schedule_id in sorted(owned - ids):  # the script re-checks ownership atomically
            fields = change_fields(ChangeOp.DELETE, schedule_id, now_ms, FILE, None)
            ops += _apply_op("", ChangeOp.DELETE, schedule_id, fields)
        return await self._apply(ops) if ops else 0

    async def load(self) -> dict[str, ScheduleDefinition]:
        """Every stored definition by id (an unreadable one is logged and left out).

        Also refreshes ``retimed``: schedule id -> when its timing last changed (ms).
        """
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.schedule_store)
            pipe.hgetall(self._keys.schedule_retimed)
            stored, retimed = await pipe.execute()
        self.retimed = {as_text(k): int(v) for k, v in retimed.items()}
        definitions: dict[str, ScheduleDefinition] = {}
        parsed: dict[str, tuple[bytes | str, ScheduleDefinition]] = {}
        for raw_id, raw in stored.items():
            schedule_id = as_text(raw_id)
            cached = self._parsed.get(schedule_id)
            if cached is not None and cached[0] == raw:
                definition = cached[1]  # unchanged: skip re-validating it on every tick
            else:
                try:
                    definition = ScheduleDefinition.model_validate_json(raw)
                except ValidationError:
                    log.error(  # noqa: TRY400 - a bad value, not a bug: no traceback
                        "stored_schedule_unreadable", schedule_id=schedule_id
                    )
                    continue
            parsed[schedule_id] = (raw, definition)
            definitions[schedule_id] = definition
        self._parsed = parsed
        return definitions

    async def _apply(self, ops: list[str]) -> int:
        keys = self._keys
        applied = await self._script(
            keys=[
                keys.schedule_store,
                keys.schedule_applied,
                keys.schedule_changes,
                keys.schedule_file_ids,
                keys.schedule_retimed,
            ],
            args=[Group.SCHEDULER.value, *ops],
        )
        return int(applied)

    def _stream_op(self, entry: Entry) -> list[str]:
        raw_id, raw = entry
        entry_id = raw_id.decode()
        try:
            op, schedule_id, _definition, _meta = decode_change(raw)
        except (ValueError, KeyError) as exc:
            # An invalid change cannot be applied later either: acknowledge it and say why.
            log.warning("schedule_change_rejected", entry_id=entry_id, error=str(exc)[:300])
            return [entry_id, "ack"]
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        log.info("schedule_change_applied", schedule_id=schedule_id, op=op.value)
        return _apply_op(entry_id, op, schedule_id, fields)


def _apply_op(entry_id: str, op: ChangeOp, schedule_id: str, fields: dict[str, str]) -> list[str]:
    flat = flatten(fields)
    return [entry_id, op.value, schedule_id, fields.get("definition", ""), str(len(flat)), *flat]
