"""Schedules from the file and the stream; fires exactly once; misfire policies; clock jumps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.keys import Keys, fire_scope
from conveyor.schedules import ChangeOp, ScheduleDefinition, change_fields, decode_change
from conveyor_scheduler.firer import Firer, FirerConfig
from conveyor_scheduler.lease import FireLease
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.schedules_file import parse_schedules
from conveyor_scheduler.testing import events, scheduler_pending, tasks, xadd, xrange

T0 = 1_795_766_400_000  # 2026-11-27T08:00:00Z

ReplicaFactory = Callable[..., Scheduler]


def definition(
    schedule_id: str = "s1", cron: str = "*/10 * * * * *", **kw: Any
) -> ScheduleDefinition:
    """A schedule created at T0 that enqueues demo.echo."""
    fields: dict[str, Any] = {
        "id": schedule_id,
        "cron": cron,
        "task": {"type": "demo.echo", "payload": {"s": schedule_id}, "max_attempts": 3},
        "created_at_ms": T0,
    }
    return ScheduleDefinition.model_validate(fields | kw)


async def fired_instants(redis: Redis, keys: Keys, schedule_id: str = "s1") -> list[int]:
    """Scheduled instants of the tasks a schedule enqueued, from their idempotency keys."""
    prefix = fire_scope(schedule_id, 0).removesuffix("0")
    return [
        int(t.idempotency_key.removeprefix(prefix))
        for t in await tasks(redis, keys.queue("default"))
        if t.idempotency_key.startswith(prefix)
    ]


async def upsert(redis: Redis, keys: Keys, schedule: ScheduleDefinition) -> None:
    """Send a schedule change as the ingest API does."""
    fields = change_fields(ChangeOp.UPSERT, schedule.id, T0, "api", schedule)
    await xadd(redis, keys.schedule_changes, fields)


async def test_schedule_from_the_stream_is_stored_published_and_fired(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    schedule = definition()
    await upsert(redis, keys, schedule)
    result = await scheduler.tick(T0 + 5_000)
    assert result.changes == 1
    assert result.next_wake_ms == T0 + 10_000
    assert await scheduler_pending(redis, keys.schedule_changes) == 0
    assert await redis.hexists(keys.schedule_store, "s1")
    (applied,) = await xrange(redis, keys.schedule_applied)
    op, schedule_id, stored, meta = decode_change(applied[1])
    assert (op, schedule_id, stored, meta["source"]) == (ChangeOp.UPSERT, "s1", schedule, "api")
    for now in (T0 + 10_000, T0 + 10_050, T0 + 19_999, T0 + 20_001):
        await scheduler.tick(now)
    assert await fired_instants(redis, keys) == [T0 + 10_000, T0 + 20_000]
    (task, _) = await tasks(redis, keys.queue("default"))
    assert (task.type, task.payload, task.max_attempts) == ("demo.echo", {"s": "s1"}, 3)
    assert (task.origin, task.idempotency_key) == ("schedule:s1", fire_scope("s1", T0 + 10_000))
    pending = [e for e in await events(redis, keys.queue("default")) if e.task_id == task.id]
    assert [e.event.value for e in pending] == ["pending"]


async def test_deleted_schedule_stops_firing(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    await upsert(redis, keys, definition())
    await scheduler.tick(T0 + 10_000)
    await xadd(redis, keys.schedule_changes, change_fields(ChangeOp.DELETE, "s1", T0, "api", None))
    await scheduler.tick(T0 + 20_000)
    await scheduler.tick(T0 + 30_000)
    assert await fired_instants(redis, keys) == [T0 + 10_000]
    assert not await redis.hexists(keys.schedule_store, "s1")
    assert len(await xrange(redis, keys.schedule_applied)) == 2


async def test_invalid_change_is_acknowledged_and_not_applied(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    await xadd(redis, keys.schedule_changes, {"v": "1", "op": "upsert", "id": "x"})
    result = await make_replica().tick(T0)
    assert result.changes == 0
    assert await scheduler_pending(redis, keys.schedule_changes) == 0
    assert await redis.hlen(keys.schedule_store) == 0


async def test_schedule_from_the_file_is_published_with_source_file_and_fires(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    text = """
schedules:
  - id: nightly
    cron: "@every 5s"
    task: {type: demo.echo, payload: {from: file}}
"""
    scheduler = make_replica()
    await scheduler.apply_file(parse_schedules(text), T0 + 1)
    (applied,) = await xrange(redis, keys.schedule_applied)
    assert decode_change(applied[1])[3]["source"] == "file"
    # A file schedule has no creation time: it starts where a replica first saw it...
    await scheduler.tick(T0 + 1)
    await scheduler.tick(T0 + 5_000)
    # ...and its @every instants count from the epoch, so replicas and restarts agree.
    assert await fired_instants(redis, keys, "nightly") == [T0 + 5_000]


@pytest.mark.parametrize("changed", ["cron", "timezone"])
async def test_a_changed_timing_neither_fires_nor_misses_instants_before_the_change(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory, changed: str
) -> None:
    scheduler = make_replica()
    hourly = definition(cron="0 0 * * * ?", misfire="catch_up", catch_up_max=100)
    await upsert(redis, keys, hourly)
    await scheduler.tick(T0 + 1)
    # 30 minutes later it becomes every minute, or moves to UTC+05:45 (due at :15 UTC, so
    # 08:15 UTC lies between the last fire and the change).
    update = {"cron": "0 * * * * ?"} if changed == "cron" else {"timezone": "Asia/Kathmandu"}
    at = T0 + 30 * 60_000
    changed_def = definition(**(hourly.model_dump() | update))
    await xadd(redis, keys.schedule_changes,
               change_fields(ChangeOp.UPSERT, "s1", at, "api", changed_def))  # fmt: skip
    result = await scheduler.tick(at + 5_000)
    assert (result.fires, result.missed) == ((), 0)
    await scheduler.tick(at + 60_000)
    expected = [at + 60_000] if changed == "cron" else []
    assert await fired_instants(redis, keys) == expected
    # The same timing upserted again (a payload change) does not move the start again.
    payload = definition(**(changed_def.model_dump() | {"task": {"type": "demo.other"}}))
    await xadd(redis, keys.schedule_changes,
               change_fields(ChangeOp.UPSERT, "s1", at + 90_000, "api", payload))  # fmt: skip
    await scheduler.tick(at + 90_001)
    assert await redis.hget(keys.schedule_retimed, "s1") == str(at).encode()


def file_text(*ids: str) -> str:
    """A schedules file defining ``ids``, each every minute."""
    items = "".join(f"  - {{id: {i}, cron: '@every 1m', task: {{type: demo.echo}}}}\n" for i in ids)
    return "schedules:\n" + items


async def test_a_schedule_removed_from_the_file_is_deleted_unless_the_api_took_it_over(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    await scheduler.apply_file(parse_schedules(file_text("a", "b", "c")), T0)
    await upsert(redis, keys, definition("c"))  # the API changes c: it is no longer the file's
    await scheduler.tick(T0 + 1)
    await scheduler.apply_file(parse_schedules(file_text("a")), T0 + 2)
    assert sorted(await redis.hkeys(keys.schedule_store)) == [b"a", b"c"]
    deletes = [decode_change(fields) for _, fields in await xrange(redis, keys.schedule_applied)]
    assert [(op, i, meta["source"]) for op, i, _, meta in deletes if op is ChangeOp.DELETE] == [
        (ChangeOp.DELETE, "b", "file")
    ]
    # An empty file removes what the file still owns, and a re-apply changes nothing more.
    assert await scheduler.apply_file([], T0 + 3) == 1
    assert await scheduler.apply_file([], T0 + 4) == 0
    assert await redis.hkeys(keys.schedule_store) == [b"c"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", []),
        ("fire_once", [T0 + 300_000]),
        ("catch_up", [T0 + 280_000, T0 + 290_000, T0 + 300_000]),
    ],
)
async def test_misfire_policy_applies_to_instants_missed_while_no_replica_ran(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory, policy: str, expected: list[int]
) -> None:
    await upsert(redis, keys, definition(misfire=policy, catch_up_max=3))
    before = make_replica("before")
    await before.tick(T0 + 10_000)
    # Downtime: no replica runs from T0+10s to T0+306s; a fresh replica starts then. With the
    # default 5 s misfire threshold, T0+20s..T0+300s (29 instants) were missed.
    after = make_replica("after")
    result = await after.tick(T0 + 306_000)
    assert result.missed == 29
    await after.tick(T0 + 310_000)
    assert await fired_instants(redis, keys) == [T0 + 10_000, *expected, T0 + 310_000]
    last = await redis.hget(keys.queue("default").last_fired, "s1")
    assert last == str(T0 + 310_000).encode()


async def test_schedule_created_while_no_replica_ran_applies_its_misfire_policy(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    await upsert(redis, keys, definition(misfire="fire_once"))
    await make_replica().tick(T0 + 60_000)
    # 10 s..50 s were missed (fired once, as the latest of them); 60 s is due now.
    assert await fired_instants(redis, keys) == [T0 + 50_000, T0 + 60_000]


async def test_a_backward_clock_jump_fires_nothing_twice(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    await upsert(redis, keys, definition(cron="* * * * * *"))
    for now in (T0 + 3_000, T0 - 20_000, T0 + 1_000, T0 + 2_500, T0 + 4_000):
        await scheduler.tick(now)
    assert await fired_instants(redis, keys) == [T0 + 1_000, T0 + 2_000, T0 + 3_000, T0 + 4_000]


async def test_start_end_dates_and_the_enabled_flag_bound_the_fires(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    bounded = definition(
        "bounded",
        start_at="2026-11-27T08:00:20Z",
        end_at="2026-11-27T08:00:40Z",
    )
    disabled = definition("off", enabled=False)
    await upsert(redis, keys, bounded)
    await upsert(redis, keys, disabled)
    for second in range(0, 71, 5):
        await scheduler.tick(T0 + second * 1_000)
    assert await fired_instants(redis, keys, "bounded") == [T0 + 20_000, T0 + 30_000, T0 + 40_000]
    assert await fired_instants(redis, keys, "off") == []
    # Re-enabled later: the time it spent disabled is not a misfire.
    await upsert(redis, keys, disabled.model_copy(update={"enabled": True}))
    await scheduler.tick(T0 + 75_000)
    await scheduler.tick(T0 + 80_000)
    assert await fired_instants(redis, keys, "off") == [T0 + 80_000]


async def test_jitter_delays_each_fire_by_the_same_amount_on_every_replica(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    # No fire lease: both replicas fire on time, so both must pick the same delay.
    a, b = make_replica("a", fire_lease_ms=0), make_replica("b", fire_lease_ms=0)
    await upsert(redis, keys, definition(cron="*/10 * * * * *", jitter=5.0))
    first = await a.tick(T0 + 1)
    assert first.next_wake_ms is not None
    assert T0 + 10_000 <= first.next_wake_ms <= T0 + 15_000
    assert (await b.tick(T0 + 1)).next_wake_ms == first.next_wake_ms
    assert (await a.tick(first.next_wake_ms - 1)).fires == ()
    assert len((await b.tick(first.next_wake_ms)).fires) == 1
    assert await fired_instants(redis, keys) == [T0 + 10_000]


async def test_fires_prepared_ahead_are_refused_before_their_instant_and_made_once_after(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    await upsert(redis, keys, definition())
    await scheduler.tick(T0 + 9_000)
    prepared = await scheduler.prepare_fires(T0 + 10_000)
    assert await scheduler.send_prepared(prepared, T0 + 9_999) == ()
    assert await fired_instants(redis, keys) == []
    assert len(await scheduler.send_prepared(prepared, T0 + 10_000)) == 1
    assert await scheduler.send_prepared(prepared, T0 + 10_001) == ()
    assert (await scheduler.tick(T0 + 10_002)).fires == ()
    assert await fired_instants(redis, keys) == [T0 + 10_000]


async def test_unreadable_stored_or_unparseable_schedules_are_skipped_and_others_fire(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    await upsert(redis, keys, definition("good"))
    await redis.hset(keys.schedule_store, "broken", b'{"id": "broken", "cron": 3}')
    scheduler = make_replica()
    await scheduler.tick(T0 + 10_000)
    assert await fired_instants(redis, keys, "good") == [T0 + 10_000]
    # A definition that skipped validation (built in code) with an impossible expression.
    impossible = definition("never").model_copy(update={"cron": "0 0 30 2 *"})
    firer = Firer(redis, keys, FirerConfig(misfire_ms=5_000, dedup_ttl_ms=86_400_000))
    result = await firer.fire({"never": impossible, "good": definition("good")}, T0 + 20_000)
    assert [(f.schedule_id, f.instant_ms) for f in result.fired] == [("good", T0 + 20_000)]


async def test_the_fire_lease_holder_fires_on_time_and_a_standby_takes_over_when_it_stops(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    a, b = make_replica("a"), make_replica("b")  # fire lease of 2 s (the default)
    await upsert(redis, keys, definition(cron="* * * * * *"))
    assert (await a.tick(T0)).leader
    standby = await b.tick(T0)
    assert not standby.leader
    assert standby.next_fire_ms == T0 + 1_000 + 2_000
    for second in range(1, 4):
        assert (await b.tick(T0 + second * 1_000)).fires == ()
        assert len((await a.tick(T0 + second * 1_000)).fires) == 1
    # a stays alive (renews its lease at T0+4.5s, to T0+6.5s) but stops firing: b, standing
    # by, fires each instant once it is 2 s overdue...
    assert await FireLease(redis, keys, "a", 2_000).hold(T0 + 4_500)
    assert (await b.tick(T0 + 5_999)).fires == ()
    assert [f.instant_ms for f in (await b.tick(T0 + 6_000)).fires] == [T0 + 4_000]
    # ...and once the lease has run out, takes it and fires on time.
    taken = await b.tick(T0 + 6_500)
    assert taken.leader
    assert [f.instant_ms for f in taken.fires] == [T0 + 5_000, T0 + 6_000]
    instants = await fired_instants(redis, keys)
    assert instants == [T0 + n * 1_000 for n in range(1, 7)]


async def test_fires_prepared_before_a_clock_jump_obey_the_misfire_threshold(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    """Redis TIME jumps +1 h inside the preparation window: the policy allows one fire."""
    scheduler = make_replica()
    await upsert(redis, keys, definition())  # every 10 s, misfire policy fire_once
    await scheduler.tick(T0 + 9_700)
    prepared = await scheduler.prepare_fires(T0 + 10_000)
    jumped = T0 + 3_600_000 + 17_000  # every instant since T0 + 10 s is over 5 s late now
    assert await scheduler.send_prepared(prepared, jumped) == ()
    result = await scheduler.tick(jumped)
    assert len(result.fires) == 1
    assert result.missed == 361
    assert await fired_instants(redis, keys) == [T0 + 3_610_000]
