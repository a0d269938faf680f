"""Queue figures: what GET /api/v1/queues and the dashboard's overview stream answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.keys import Keys, QueueKeys
from conveyor.pausing import paused_names
from conveyor.streams import Group, entry_time_ms, find_group


async def queue_figures(client: Redis, keys: Keys, queues: Sequence[str]) -> list[dict[str, Any]]:
    """Every queue's figures (a partitioned one with its partitions'), with ``paused``."""
    paused = await paused_names(client, keys)
    items = []
    for queue in queues:
        parts = [await queue_stats(client, qk) for qk in keys.shards(queue)]
        item = parts[0] if len(parts) == 1 else merge_partitions(queue, parts)
        items.append({**item, "paused": queue in paused})  # conveyor.pausing
    return items


async def queue_stats(client: Redis, qk: QueueKeys) -> dict[str, Any]:
    """One queue's figures from XLEN, XINFO GROUPS and XPENDING."""
    stats: dict[str, Any] = {
        "queue": qk.queue,
        "depth": await client.xlen(qk.tasks),
        "pending": 0,
        "lag": None,
        "consumers": 0,
        "dead_letters": await client.xlen(qk.dead),
        "oldest_pending_age_s": None,
    }
    try:
        groups = await client.xinfo_groups(qk.tasks)
    except redis_errors.ResponseError:
        return stats  # the stream does not exist yet
    workers = find_group(groups, Group.WORKERS.value)
    if workers is None:
        return stats
    stats.update(pending=workers["pending"], lag=workers.get("lag"), consumers=workers["consumers"])
    if workers["pending"]:
        summary = await client.xpending(qk.tasks, Group.WORKERS.value)
        oldest = summary.get("min")
        if oldest:
            age_ms = time.time() * 1000 - entry_time_ms(oldest)
            stats["oldest_pending_age_s"] = round(max(age_ms, 0) / 1000, 3)
    return stats


def merge_partitions(queue: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A partitioned queue's figures: sums (the oldest age is the maximum), then each part's."""
    merged: dict[str, Any] = {"queue": queue}
    for name in ("depth", "pending", "consumers", "dead_letters"):
        merged[name] = sum(part[name] for part in parts)
    lags = [part["lag"] for part in parts]
    merged["lag"] = None if None in lags else sum(lags)
    ages = [part["oldest_pending_age_s"] for part in parts if part["oldest_pending_age_s"]]
    merged["oldest_pending_age_s"] = max(ages, default=None)
    merged["partitions"] = [{"partition": n, **part} for n, part in enumerate(parts)]
    return merged
