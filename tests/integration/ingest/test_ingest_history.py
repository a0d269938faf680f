"""Queue history: outcomes counted once, sampled per minute under a lease, the last hour served."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType, event_fields
from conveyor.keys import Keys
from conveyor.streams import Group, read_reply_entries
from conveyor_ingest.consumer import ReadModelConsumer
from conveyor_ingest.history import KEPT_MINUTES, MINUTE_MS, HistorySampler, read_history
from integration.ingest.ingest_support import Api, auth, get_json

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a minute boundary


class Clock:
    """A settable wall clock (ms)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


async def emit(redis: Redis, keys: Keys, event: TaskEventType, count: int) -> None:
    """XADD ``count`` events of ``event`` on the default queue's events stream."""
    for n in range(count):
        envelope = new_envelope("demo.echo", n, "default")
        fields = event_fields(event, envelope, T0)
        await redis.xadd(keys.queue("default").events, fields)  # type: ignore[arg-type]


async def test_outcomes_are_counted_once_even_when_an_event_is_applied_twice(
    redis: Redis, keys: Keys
) -> None:
    consumer = ReadModelConsumer(redis, keys, 3600)
    await consumer.ensure_groups()
    await emit(redis, keys, TaskEventType.SUCCEEDED, 3)
    await emit(redis, keys, TaskEventType.RETRYING, 2)
    await emit(redis, keys, TaskEventType.DEAD, 1)
    qk = keys.queue("default")
    # A second consumer is handed the same entries (as after a claim), then both apply them.
    stale: Any = await redis.xreadgroup(Group.INGEST.value, "stale", {qk.events: ">"}, count=100)
    entries = read_reply_entries(stale)[0][1]
    await consumer._handle(qk.events.encode(), entries)
    await consumer._handle(qk.events.encode(), entries)
    counters = await redis.hgetall(qk.counters)
    assert counters == {b"succeeded": b"3", b"retried": b"2", b"dead": b"1"}


async def test_minutes_count_the_difference_between_samples_and_keep_about_an_hour(
    redis: Redis, keys: Keys
) -> None:
    clock = Clock(T0 + 5_000)
    sampler = HistorySampler(redis, keys, 15, name="a", clock=clock)
    consumer = ReadModelConsumer(redis, keys, 3600)
    await consumer.ensure_groups()
    assert await sampler.sample_once()
    await emit(redis, keys, TaskEventType.SUCCEEDED, 4)
    await emit(redis, keys, TaskEventType.DEAD, 1)
    await redis.xadd(keys.queue("default").tasks, {"x": "1"})
    await consumer.step(1)
    clock.ms = T0 + MINUTE_MS + 10_000
    assert await sampler.sample_once()

    minutes = await read_history(redis, keys, "default", clock.ms)
    assert len(minutes) == 60
    assert minutes[-1].minute_ms == T0 + MINUTE_MS
    assert minutes[-1].counts == {
        "enqueued": 1, "succeeded": 4, "retried": 0, "dead": 1, "cancelled": 0
    }  # fmt: skip
    assert minutes[-1].backlog == 1  # the undelivered entry
    assert minutes[-2].counts is None  # the first sampled minute has none before it
    assert minutes[-2].backlog == 0
    assert all(m.counts is None and m.backlog is None for m in minutes[:-2])

    for minute in range(2, 2 + KEPT_MINUTES + 10):  # long past the window
        clock.ms = T0 + minute * MINUTE_MS
        assert await sampler.sample_once()
    assert await redis.zcard(keys.history("default")) == KEPT_MINUTES
    assert 0 < await redis.pttl(keys.history("default")) <= 2 * KEPT_MINUTES * MINUTE_MS


async def test_one_process_samples_at_a_time_and_another_takes_over_when_it_stops(
    redis: Redis, keys: Keys
) -> None:
    clock = Clock(T0)
    first = HistorySampler(redis, keys, 1, name="first", clock=clock)
    second = HistorySampler(redis, keys, 1, name="second", clock=clock)
    assert await first.sample_once()
    assert not await second.sample_once()
    assert await redis.zcard(keys.history("default")) == 1
    await redis.delete(keys.history_lease)  # the first process died: its lease ran out
    assert await second.sample_once()
    assert not await first.sample_once()


async def test_history_route_answers_sixty_minutes_for_admins_only(api: Api) -> None:
    token = auth(scope="admin")["Authorization"][7:]
    status, body = await get_json(api, "/api/v1/queues/default/history", token)
    assert status == 200
    minutes = body["data"]["minutes"]
    assert len(minutes) == 60
    assert body["data"]["queue"] == "default"
    assert set(minutes[-1]) == {"minute", "counts", "backlog", "dead_letters"}
    refused = await api.client.get("/api/v1/queues/default/history", headers=auth())
    assert refused.status == 403
    unknown, _ = await get_json(api, "/api/v1/queues/nope/history", token)
    assert unknown == 422


async def test_a_partitioned_queue_samples_the_sum_of_its_partitions(
    redis: Redis, keys: Keys
) -> None:
    keys = Keys(prefix=keys.prefix, queues=("default",), partitions=(("default", 3),))
    for partition, succeeded in ((0, 2), (2, 5)):
        await redis.hset(keys.shards("default")[partition].counters, "succeeded", succeeded)
    await redis.xadd(keys.shards("default")[1].tasks, {"x": "1"})
    clock = Clock(T0)
    sampler = HistorySampler(redis, keys, 15, name="a", clock=clock)
    assert await sampler.sample_once()
    await redis.hset(keys.shards("default")[1].counters, "succeeded", 4)
    clock.ms += MINUTE_MS
    assert await sampler.sample_once()
    [*_, before, last] = await read_history(redis, keys, "default", clock.ms)
    assert (before.backlog, last.backlog) == (1, 1)
    assert last.counts is not None
    assert (last.counts["succeeded"], last.counts["enqueued"]) == (4, 0)
