"""Metrics added for observability: queue gauges and ingest rejections by reason."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.keys import Keys
from conveyor.pausing import pause_queue, resume_queue
from conveyor.settings import RedisSettings
from conveyor.streams import Group, ensure_group
from conveyor.telemetry.queues import QueueStats
from conveyor_ingest.app import create_app
from conveyor_ingest.context import SERVICES
from conveyor_ingest.settings import IngestSettings
from waiting import wait_for


async def test_queue_gauges_follow_the_streams(redis: Redis, keys: Keys) -> None:
    keys = Keys(prefix=keys.prefix, queues=("default",))
    qk = keys.queue("default")
    await ensure_group(redis, qk.tasks, Group.WORKERS.value)
    for n in range(5):
        await redis.xadd(qk.tasks, new_envelope("demo.echo", n, "default").to_fields())  # type: ignore[arg-type]
    # Two delivered and not acknowledged, three still undelivered.
    await redis.xreadgroup(Group.WORKERS.value, "c1", {qk.tasks: ">"}, count=2)
    await redis.xadd(qk.dead, {"reason": "poison"})
    await redis.zadd(qk.timer_index, {"t1": 1, "t2": 2})
    registry = CollectorRegistry()
    stats = QueueStats(redis, keys, registry)

    await stats.sample()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"queue": "default", **labels})

    assert value("conveyor_queue_stream_length", stream="tasks") == 5
    assert value("conveyor_queue_stream_length", stream="dead") == 1
    assert value("conveyor_queue_dead_letters") == 1
    assert value("conveyor_queue_group_lag") == 3
    assert value("conveyor_queue_pending") == 2
    assert value("conveyor_queue_timers") == 2
    oldest = value("conveyor_queue_oldest_pending_seconds")
    assert oldest is not None
    assert oldest >= 0

    # Acknowledging everything empties the pending figures on the next sample.
    pending = await redis.xpending_range(qk.tasks, Group.WORKERS.value, "-", "+", 10)
    await redis.xack(qk.tasks, Group.WORKERS.value, *[row["message_id"] for row in pending])
    await stats.sample()
    assert value("conveyor_queue_pending") == 0
    assert value("conveyor_queue_oldest_pending_seconds") == 0


async def test_sampler_runs_until_stopped(redis: Redis, keys: Keys) -> None:
    keys = Keys(prefix=keys.prefix, queues=("default",))
    registry = CollectorRegistry()
    stop = asyncio.Event()
    runner = asyncio.create_task(QueueStats(redis, keys, registry).run(stop, 0.05))

    def sampled() -> bool:
        return bool(registry.get_sample_value("conveyor_queue_stats_sampled_timestamp_seconds"))

    await wait_for(sampled, within=20, what="a first sample")
    stop.set()
    await asyncio.wait_for(runner, timeout=20)


async def test_ingest_counts_rejected_enqueue_requests_by_reason(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    redis_settings = RedisSettings(redis_url=redis_url, key_prefix=keys.prefix, queues=("default",))
    settings = IngestSettings(jwt_secret="s" * 32)  # type: ignore[arg-type]
    app = create_app(settings, redis_settings, consume=False)
    async with TestClient(TestServer(app)) as client:
        unauthenticated = await client.post("/api/v1/tasks", json={"type": "demo.echo"})
        assert unauthenticated.status == 401
        registry = app[SERVICES].metrics.registry

    assert (
        registry.get_sample_value(
            "conveyor_ingest_task_requests_rejected_total", {"reason": "auth"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "conveyor_ingest_task_requests_rejected_total", {"reason": "validation"}
        )
        is None
    )


async def test_paused_gauge_follows_the_stored_state_across_restarts(
    redis: Redis, keys: Keys
) -> None:
    """conveyor_queue_paused is 1 while paused, also as sampled by a freshly started process."""
    keys = Keys(prefix=keys.prefix, queues=("default", "other"))

    def paused(registry: CollectorRegistry, queue: str) -> float | None:
        return registry.get_sample_value("conveyor_queue_paused", {"queue": queue})

    await pause_queue(redis, keys, "default", "ops", 1)
    first = CollectorRegistry()
    await QueueStats(redis, keys, first).sample()
    assert (paused(first, "default"), paused(first, "other")) == (1, 0)
    restarted = CollectorRegistry()  # a new process: only Redis remembers the pause
    stats = QueueStats(redis, keys, restarted)
    await stats.sample()
    assert paused(restarted, "default") == 1
    await resume_queue(redis, keys, "default")
    await stats.sample()
    assert paused(restarted, "default") == 0
