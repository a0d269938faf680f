"""Paused queues: the state operators set and workers obey.

Ingest owns one hash, ``Keys.paused_queues``: queue name -> JSON
``{"paused_at_ms": ..., "paused_by": ...}``. A queue is paused while it has a
field. Being in Redis, the state survives restarts of every service. Pausing
stops only the starting of tasks: ingest keeps accepting and the scheduler keeps
firing into the queue's streams, and workers finish what they hold; each worker
reads the names (:func:`paused_names`) at most once a second before it reads or
reclaims a queue's tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from conveyor import jsoncodec
from conveyor.envelope import as_text
from conveyor.keys import Keys


@dataclass(frozen=True, slots=True)
class PauseState:
    """A paused queue: since when (Unix ms) and by whom (the token's subject)."""

    queue: str
    paused_at_ms: int
    paused_by: str


async def pause_queue(
    client: Redis, keys: Keys, queue: str, by: str, now_ms: int
) -> tuple[PauseState | None, bool]:
    """Pause ``queue``: its state, and False when it was paused already (the first pause stays).

    The state is None only when another request resumed the queue in between.
    """
    value = jsoncodec.dumps({"paused_at_ms": now_ms, "paused_by": by})
    if await client.hsetnx(keys.paused_queues, queue, value):
        return PauseState(queue, now_ms, by), True
    states = await paused_queues(client, keys)
    return states.get(queue), False


async def resume_queue(client: Redis, keys: Keys, queue: str) -> bool:
    """Resume ``queue``; True when it was paused."""
    return bool(await client.hdel(keys.paused_queues, queue))


async def paused_queues(client: Redis, keys: Keys) -> dict[str, PauseState]:
    """Every paused queue's state, by name."""
    raw: dict[Any, Any] = await client.hgetall(keys.paused_queues)
    states = {}
    for name, value in raw.items():
        queue = as_text(name)
        try:
            fields = jsoncodec.loads(as_text(value))
            states[queue] = PauseState(queue, int(fields["paused_at_ms"]), str(fields["paused_by"]))
        except (ValueError, KeyError, TypeError):
            states[queue] = PauseState(queue, 0, "")  # paused all the same: the field is there
    return states


async def paused_names(client: Redis, keys: Keys) -> frozenset[str]:
    """The names of the paused queues (one HKEYS: what workers poll)."""
    names: list[Any] = await client.hkeys(keys.paused_queues)
    return frozenset(as_text(name) for name in names)
