"""Queue figures: what GET /api/v1/queues and the dashboard's overview stream answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.keys import Keys, QueueKeys
from conveyor.pausing import paused_names
from conveyor.priority import LEVELS, Priority
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
    """One queue's figures: its priority levels' streams summed, each level listed too."""
    levels = [await _level_stats(client, qk.at_level(level)) for level in LEVELS]
    stats: dict[str, Any] = {
        "queue": qk.queue,
        "depth": sum(level["depth"] for level in levels),
        "pending": sum(level["pending"] for level in levels),
        "lag": _sum_lags(levels),
        "consumers": max(level.pop("consumers") for level in levels),
        "dead_letters": await client.xlen(qk.dead),
        "oldest_pending_age_s": max(
            (age for level in levels if (age := level.pop("oldest")) is not None), default=None
        ),
        "levels": levels,
    }
    return stats


def _sum_lags(levels: list[dict[str, Any]]) -> int | None:
    # Unknown (None) when the normal stream has no group yet, or a level's lag is unknown.
    normal = next(level for level in levels if level["priority"] == Priority.NORMAL)
    if normal["lag"] is None or any(level["lag"] is None and level["depth"] for level in levels):
        return None
    return sum(level["lag"] or 0 for level in levels)


def _merge_level(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One level over every partition: sums (its lag unknown if one partition's is)."""
    lags = [part["lag"] for part in parts]
    return {
        "priority": parts[0]["priority"],
        "depth": sum(part["depth"] for part in parts),
        "pending": sum(part["pending"] for part in parts),
        "lag": None if None in lags else sum(lags),
    }


async def _level_stats(client: Redis, qk: QueueKeys) -> dict[str, Any]:
    """One level's stream: XLEN, XINFO GROUPS and XPENDING (missing stream: zeros)."""
    stats: dict[str, Any] = {
        "priority": qk.level,
        "depth": await client.xlen(qk.tasks),
        "pending": 0,
        "lag": None,
        "consumers": 0,
        "oldest": None,
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
            stats["oldest"] = round(max(age_ms, 0) / 1000, 3)
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
    merged["levels"] = [_merge_level([part["levels"][k] for part in parts]) for k in range(3)]
    merged["partitions"] = [{"partition": n, **part} for n, part in enumerate(parts)]
    return merged
