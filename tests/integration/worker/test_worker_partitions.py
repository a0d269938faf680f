"""Worker and scheduler on a queue of 4 partitions: each partition's work stays in it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.events import TaskEventType
from conveyor.keys import Keys, QueueKeys
from conveyor.schedules import ScheduleDefinition
from conveyor.streams import Group, ensure_group
from conveyor.telemetry.queues import QueueStats
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_scheduler.testing import tasks
from conveyor_worker.examples import registry as examples
from conveyor_worker.stranded import stranded_streams
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker
from waiting import wait_for

MakeWorker = Callable[..., Worker]


@pytest.fixture
def keys() -> Keys:
    """This test's namespace; queue ``default`` has 4 partitions."""
    return Keys(f"t{secrets.token_hex(5)}", ("default",), (("default", 4),))


async def _add(
    redis: Redis, qk: QueueKeys, task_type: str, payload: Any, **kw: Any
) -> TaskEnvelope:
    envelope = new_envelope(task_type, payload, qk.queue, **kw)
    await redis.xadd(qk.tasks, envelope.to_fields())  # type: ignore[arg-type]
    return envelope


async def test_one_worker_drains_every_partition(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    added = {
        qk: [await _add(redis, qk, "demo.echo", n) for n in range(3)]
        for qk in keys.shards("default")
    }
    worker = make_worker()
    assert [q.keys.shard for q in worker.queues] == [
        "default",
        "default~1",
        "default~2",
        "default~3",
    ]
    await worker.run(burst=True)
    for qk, envelopes in added.items():
        view = StreamView(redis, qk)
        for envelope in envelopes:
            assert await view.event_types(envelope.id) == [
                TaskEventType.STARTED,
                TaskEventType.SUCCEEDED,
            ]
        assert await view.pending() == 0


async def test_retry_and_dead_letter_stay_in_their_partition(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    p2 = keys.queue("default~2")
    flaky = await _add(redis, p2, "demo.fail", {"times": 1}, partition_key="acme")
    await _add(redis, p2, "demo.no-such-handler", {})
    await make_worker().run(burst=True)
    view = StreamView(redis, p2)
    [timer] = await view.timers()
    assert (timer.envelope.id, timer.envelope.partition_key) == (flaky.id, "acme")
    assert len(await view.dead()) == 1
    for other in (qk for qk in keys.shards("default") if qk != p2):
        assert await redis.xlen(other.timers_in) == await redis.xlen(other.dead) == 0
    scheduler = Scheduler(redis, keys, SchedulerSettings(consumer="s-parts"))
    later = time.time_ns() // 1_000_000 + 60_000

    async def promoted() -> bool:
        await scheduler.tick(later)
        return [t.id for t in await tasks(redis, p2)].count(flaky.id) == 2

    await wait_for(promoted, within=30, what="retry promoted into its own partition")
    await make_worker().run(burst=True)
    assert (await view.event_types(flaky.id))[-1] == TaskEventType.SUCCEEDED


async def test_effect_marks_and_keys_live_in_the_task_partition(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    p1, p3 = keys.queue("default~1"), keys.queue("default~3")
    payload = {"account": "a", "amount": 2}
    await _add(redis, p1, "demo.ledger", payload, idempotency_key="k")
    await _add(redis, p1, "demo.ledger", payload, idempotency_key="k")
    await _add(redis, p3, "demo.ledger", payload, idempotency_key="k")
    await make_worker().run(burst=True)
    # Same idempotency key in one partition: once. In another partition: its own mark.
    assert await redis.get(p1.effect_key("balance:a")) == b"2"
    assert await redis.get(p3.effect_key("balance:a")) == b"2"
    assert await redis.exists(p1.effect_mark("k"), p3.effect_mark("k")) == 2


async def test_schedule_fires_go_to_the_partition_of_their_key(redis: Redis, keys: Keys) -> None:
    start = 1_795_766_400_000  # 2026-11-27T08:00:00Z, a multiple of 5 s
    definitions = [
        ScheduleDefinition.model_validate(
            {
                "id": sid,
                "cron": "@every 5s",
                "created_at_ms": start,
                "task": {"type": "demo.echo", "queue": "default", **extra},
            }
        )
        for sid, extra in (("by-id", {}), ("by-key", {"partition_key": "customer-2"}))
    ]
    scheduler = Scheduler(redis, keys, SchedulerSettings(consumer="s-fire"))
    await scheduler.apply_file(definitions, start + 1)
    for now in (start + 1, start + 5_000, start + 10_000):
        await scheduler.tick(now)
    by_id, by_key = keys.route("default", "by-id"), keys.route("default", "customer-2")
    assert by_id != by_key
    fired = {
        qk.partition: [t.origin for t in await tasks(redis, qk)] for qk in keys.shards("default")
    }
    assert fired[by_id.partition] == ["schedule:by-id"] * 2
    assert fired[by_key.partition] == ["schedule:by-key"] * 2
    assert sum(len(origins) for origins in fired.values()) == 4
    [first, _] = await tasks(redis, by_key)
    assert first.partition_key == "customer-2"


async def test_unfinished_tasks_of_a_partition_beyond_the_count_are_reported(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    """After N was lowered from 8 to 4: partition 6 still has a task, 5 was drained."""
    p5, p6 = QueueKeys(keys.prefix, "default", 5), QueueKeys(keys.prefix, "default", 6)
    assert await stranded_streams(redis, keys) == []
    await _add(redis, p5, "demo.echo", 1)
    await _add(redis, p6, "demo.echo", 2)
    before = Keys(keys.prefix, ("default",), (("default", 8),))
    await Worker(redis, make_worker().settings, examples, before, consumer="old").run(burst=True)
    assert await stranded_streams(redis, keys) == []  # drained under the old count
    await _add(redis, p6, "demo.echo", 3)
    assert await stranded_streams(redis, keys) == [p6.tasks]


async def test_queue_gauges_are_the_sums_over_the_partitions(redis: Redis, keys: Keys) -> None:
    p0, p2 = keys.queue("default"), keys.queue("default~2")
    for qk, count in ((p0, 2), (p2, 3)):
        await ensure_group(redis, qk.tasks, Group.WORKERS.value)
        for n in range(count):
            await _add(redis, qk, "demo.echo", n)
    await redis.xreadgroup(Group.WORKERS.value, "c1", {p2.tasks: ">"}, count=1)
    await redis.zadd(p2.timer_index, {"t1": 1})
    registry = CollectorRegistry()
    await QueueStats(redis, keys, registry).sample()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"queue": "default", **labels})

    assert value("conveyor_queue_stream_length", stream="tasks") == 5
    assert (value("conveyor_queue_group_lag"), value("conveyor_queue_pending")) == (4, 1)
    assert value("conveyor_queue_timers") == 1
