"""Stream primitives shared by the services."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis


async def ensure_group(client: Redis, stream: str, group: str) -> bool:
    """Create consumer group ``group`` on ``stream`` if missing; True when created.

    The group starts at id 0 (never ``$``) so nothing written before the first
    consumer started is skipped; MKSTREAM creates the stream if needed.
    """
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis_errors.ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


def entry_time_ms(entry_id: bytes | str) -> int:
    """The server time (Unix ms) at which a stream entry was added, from its id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


Entry = tuple[bytes, dict[bytes, bytes]]


def read_reply_entries(reply: object) -> list[tuple[bytes, list[Entry]]]:
    """Normalise an XREAD/XREADGROUP reply to ``[(stream, [(entry_id, fields), ...])]``.

    redis-py answers with a dict under RESP3 and a list of pairs under RESP2.
    """
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(stream, list(batches[0]) if batches else []) for stream, batches in reply.items()]
    if isinstance(reply, list):
        return [(stream, list(entries)) for stream, entries in reply]
    msg = f"unexpected stream read reply of type {type(reply).__name__}"
    raise TypeError(msg)


class Group(StrEnum):
    """Consumer group names, one per reading service."""

    WORKERS = "workers"  # on {q}:tasks and {q}:control
    SCHEDULER = "scheduler"  # on {q}:timers-in, {q}:control and the schedule changes
    INGEST = "ingest"  # on {q}:events and the applied schedule changes


def find_group(groups: object, name: str) -> dict[Any, Any] | None:
    """The entry for group ``name`` in an XINFO GROUPS reply, or None when it is absent.

    redis-py gives each group as a dict whose name may be bytes or str.
    """
    for group in groups if isinstance(groups, list) else []:
        found = group.get("name")
        if (found.decode() if isinstance(found, bytes) else found) == name:
            return dict(group)
    return None
