"""Handlers the worker benchmark loads with CONVEYOR_WORKER_HANDLERS=bench_worker_handlers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from conveyor.connection import create_client
from conveyor.handlers import Registry, ResourceKey, Resources, TaskContext
from conveyor.settings import RedisSettings, load_settings

registry = Registry()


@registry.handler("bench.noop")
async def noop(ctx: TaskContext, payload: Any) -> None:
    """Do nothing: measures the worker's own cost per task."""


@registry.handler("bench.stamp")
async def stamp(ctx: TaskContext, payload: Any) -> float:
    """Return how long after its enqueue time (payload ``t``, Unix ns) the handler started."""
    return (time.time_ns() - int(payload["t"])) / 1e6


_DOCUMENT = json.dumps(
    {"items": [{"id": n, "name": f"item-{n}", "tags": ["a", "b", "c"], "price": n * 1.5}
               for n in range(140)]}
)  # fmt: skip


@registry.handler("bench.json")
async def json_document(ctx: TaskContext, payload: Any) -> int:
    """Realistic CPU work (~200 us on a quiet machine): parse and rebuild a 10 kB document."""
    document = json.loads(_DOCUMENT)
    document["total"] = sum(item["price"] for item in document["items"])
    return len(json.dumps(document))


COUNTER = ResourceKey("counter", Redis)


@registry.lifespan
async def counter_client(resources: Resources) -> AsyncIterator[None]:
    """One Redis client for the process, for ``bench.incr`` (the peers' benchmark handler)."""
    client = create_client(load_settings(RedisSettings))
    resources[COUNTER] = client
    try:
        yield
    finally:
        await client.aclose()


@registry.handler("bench.incr")
async def incr(ctx: TaskContext, payload: Any) -> int:
    """One awaited Redis INCR through the shared client."""
    return int(await ctx.resources[COUNTER].incr("bench:counter"))
