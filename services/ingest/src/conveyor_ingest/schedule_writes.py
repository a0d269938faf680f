"""Schedule changes accepted by the API: create, replace, delete, each one atomic step.

Ingest's listing (``Keys.schedule_listing``) is its own copy of the schedules: it follows
the changes the scheduler applied (consumer.py) and, from the moment ingest accepts a
change, shows that change already. So the existence check of a create (absent), a
replace or a delete (present) sees every change accepted before it, and is made in the
same script as the change's XADD and the listing write (``ingest_schedule_write.lua``).
Each accepted change gets a number (``seq``); an applied change older than the newest
accepted one for its id does not overwrite the listing (``ingest_schedules.lua``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from conveyor.envelope import as_text
from conveyor.keys import Keys
from conveyor.lua import register
from conveyor.schedules import ChangeOp, ScheduleDefinition, change_fields
from conveyor_ingest.store import now_ms


class WriteOp(StrEnum):
    """What a change may do: create needs the id absent, replace and delete present."""

    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"


class Outcome(StrEnum):
    """The script's answer."""

    OK = "ok"
    EXISTS = "exists"
    MISSING = "missing"
    CHANGED = "changed"  # a replace whose base was changed by another request meanwhile


class ScheduleWriter:
    """Reads ingest's listing copy and writes accepted schedule changes."""

    def __init__(self, client: Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._script = register(client, "ingest_schedule_write")

    async def current(self, schedule_id: str) -> str | None:
        """The listed definition of ``schedule_id`` (JSON text), None when there is none."""
        raw = await self._client.hget(self._keys.schedule_listing, schedule_id)
        return None if raw is None else as_text(raw)

    async def write(
        self,
        op: WriteOp,
        schedule_id: str,
        definition: ScheduleDefinition | None,
        based_on: str = "",
    ) -> Outcome:
        """Publish one change if ``op``'s condition holds; ``based_on``: a replace's base."""
        change = ChangeOp.DELETE if op is WriteOp.DELETE else ChangeOp.UPSERT
        fields = change_fields(change, schedule_id, now_ms(), "api", definition)
        value = fields.get("definition", "")
        keys = self._keys
        args: list[Any] = [op.value, schedule_id, value, based_on]
        args += [item for pair in fields.items() for item in pair]
        reply = await self._script(
            keys=[keys.schedule_listing, keys.schedule_pending, keys.schedule_seq,
                  keys.schedule_changes],
            args=args,
        )  # fmt: skip
        return Outcome(as_text(reply[0]))
