"""Reads of the task read model: one task by id (looked up in every queue) and listings.

A task's record lives in its queue partition's slot: a record hash, or until its
first event a compact accepted record (conveyor.records). GET by id asks every partition
of every configured queue in one pipeline, so no separate id -> queue index is
kept. Listings merge the partitions' status indexes (members ``<ms>:<id>``) newest
first.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from conveyor.keys import Keys, QueueKeys
from conveyor.records import (
    ask_any_record,
    ask_record,
    bucket_of,
    found_record,
    record_of,
    view,
)

SCAN_FACTOR = 5  # index entries read per window: limit x this
# Index entries one listing request may examine: bounds a request whose filters skip
# most entries (each costs a record read); past it a page may be short, with a cursor.
SCAN_BUDGET = 5_000


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Filters of GET /api/v1/tasks."""

    queues: tuple[str, ...]
    status: str | None
    type: str | None
    subject: str | None  # None: every client's tasks (admin)
    limit: int
    cursor: str | None


async def find_record(client: Redis, keys: Keys, task_id: str) -> dict[bytes, bytes] | None:
    """The record of ``task_id`` from whichever configured queue holds it."""
    found = await find_shard_record(client, keys, task_id)
    return None if found is None else found[1]


async def find_shard_record(
    client: Redis, keys: Keys, task_id: str
) -> tuple[QueueKeys, dict[bytes, bytes]] | None:
    """The record of ``task_id`` and the queue partition (shard) that holds it."""
    shards = keys.all_queues()
    async with client.pipeline(transaction=False) as pipe:
        if not ask_any_record(pipe, shards, task_id):
            return None
        replies = await pipe.execute()
    return found_record(shards, task_id, replies)


def encode_cursor(member: bytes) -> str:
    """Opaque cursor for the next page."""
    return base64.urlsafe_b64encode(member).decode()


def decode_cursor(cursor: str) -> bytes:
    """The index member a cursor points at; ValueError when it is not one."""
    member = base64.urlsafe_b64decode(cursor.encode())
    if b":" not in member or not member.split(b":", 1)[0].isdigit():
        msg = "invalid cursor"
        raise ValueError(msg)
    return member


async def list_tasks(client: Redis, keys: Keys, query: ListQuery) -> dict[str, Any]:
    """One page of tasks, newest first, filtered; ``next_cursor`` when more may follow.

    The index is walked in windows until the page holds ``limit`` matching tasks or
    the index ends; at most SCAN_BUDGET index entries per request, after which a
    shorter page comes back with a cursor to go on from.
    """
    shards = [shard for queue in query.queues for shard in keys.shards(queue)]
    upper = b"(" + decode_cursor(query.cursor) if query.cursor else b"+"
    items: list[dict[str, Any]] = []
    budget = max(SCAN_BUDGET, query.limit)
    while True:
        window = min(query.limit * SCAN_FACTOR, budget)
        candidates, exhausted = await _candidates(client, shards, upper, window)
        records = await _records(client, candidates)
        last: bytes | None = None
        for (member, _), record in zip(candidates, records, strict=True):
            last = member
            budget -= 1
            if record and _matches(record, query):
                items.append(view(record))
                if len(items) == query.limit:
                    break
        if last is None or (exhausted and last == candidates[-1][0]):
            return {"items": items, "next_cursor": None}
        if len(items) == query.limit or budget <= 0:
            return {"items": items, "next_cursor": encode_cursor(last)}
        upper = b"(" + last


async def _candidates(
    client: Redis, shards: list[QueueKeys], upper: bytes, count: int
) -> tuple[list[tuple[bytes, QueueKeys]], bool]:
    """The next ``count`` index members below ``upper`` over ``shards``, newest first,
    and whether they are the last ones."""
    candidates: list[tuple[bytes, QueueKeys]] = []
    for qk in shards:
        members = await client.zrevrangebylex(qk.status_index, upper, b"-", start=0, num=count)
        candidates += [(_bytes(member), qk) for member in members]
    candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    return candidates[:count], len(candidates) < count


async def _records(
    client: Redis, candidates: list[tuple[bytes, QueueKeys]]
) -> list[dict[bytes, bytes] | None]:
    """The record of each index candidate (None where it expired), in one pipeline."""
    asked = []
    async with client.pipeline(transaction=False) as pipe:
        for member, qk in candidates:
            task_id = member.split(b":", 1)[1].decode()
            bucket = bucket_of(task_id)
            ask_record(pipe, qk, task_id, bucket)
            asked.append((qk, task_id, 1 if bucket is None else 2))
        replies = await pipe.execute()
    records = []
    at = 0
    for qk, task_id, count in asked:
        records.append(record_of(qk, task_id, replies[at : at + count]))
        at += count
    return records


def _matches(record: dict[bytes, bytes], query: ListQuery) -> bool:
    checks = (("status", query.status), ("type", query.type), ("subject", query.subject))
    return all(
        wanted is None or record.get(name.encode(), b"").decode() == wanted
        for name, wanted in checks
    )


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
