"""Priorities through every path that makes a task, on a queue of 4 partitions.

The API routes (tasks, batch, events), the direct producer's write path, delays and
retries (timers promoted by the scheduler), changes (PUT), replays and schedule fires
all keep a task on its level's stream, in its partition.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.deadletter import DeadReason, dead_fields
from conveyor.envelope import TaskEnvelope, decode_envelope, new_envelope
from conveyor.keys import Keys, QueueKeys
from conveyor.schedules import ScheduleDefinition
from conveyor.settings import RedisSettings
from conveyor_ingest.store import now_ms
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_worker.examples import registry as examples
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker
from integration.ingest.ingest_support import (
    QUEUES,
    Api,
    auth,
    entries,
    get_json,
    make_token,
    post_task,
    until,
)

PARTITIONS = (("default", 4),)
ADMIN = make_token(sub="root", scope="admin")
KEY_P3, KEY_P2 = "customer-2", "acme"  # partitions 3 and 2 (tests/unit/test_partition_routing.py)


@pytest.fixture
def redis_settings(redis_url: str, keys: Keys) -> RedisSettings:
    """The app's settings: queue ``default`` has 4 partitions."""
    return RedisSettings(
        redis_url=redis_url, key_prefix=keys.prefix, queues=QUEUES, queue_partitions=PARTITIONS
    )


@pytest.fixture
def api_keys(keys: Keys) -> Keys:
    """The test's keys with the same partitions as the app."""
    return Keys(keys.prefix, QUEUES, PARTITIONS)


async def _on(redis: Redis, qk: QueueKeys, level: str) -> list[TaskEnvelope]:
    stream = qk.at_level(level).tasks
    return [decode_envelope(i, f, qk.queue) for i, f in await entries(redis, stream)]


def _worker(api: Api) -> Worker:
    settings = WorkerSettings(block_ms=50, breaker_enabled=False)
    return Worker(api.redis, settings, examples, api.keys, consumer="w-prio")


async def _promote(api: Api, qk: QueueKeys, level: str, task_id: str, copies: int) -> None:
    scheduler = Scheduler(api.redis, api.keys, SchedulerSettings(consumer="s-prio"))
    later = time.time_ns() // 1_000_000 + 3_600_000

    async def promoted() -> bool:
        await scheduler.tick(later)
        return [t.id for t in await _on(api.redis, qk, level)].count(task_id) == copies

    await until(promoted, f"{task_id} promoted onto the {level} stream")


async def test_each_route_puts_a_task_on_its_levels_stream_in_its_partition(api: Api) -> None:
    p3, p2 = api.keys.queue("default~3"), api.keys.queue("default~2")
    body = {"type": "t.x", "priority": "high", "partition_key": KEY_P3}
    status, high = await post_task(api, body)
    assert status == 202, high
    await post_task(api, {"type": "t.x", "partition_key": KEY_P3})
    batch = {"tasks": [{"type": "t.b", "partition_key": KEY_P2, "priority": level}
                       for level in ("low", "high", "normal", "low")]}  # fmt: skip
    response = await api.client.post("/api/v1/tasks/batch", json=batch, headers=auth())
    assert response.status == 202, await response.text()
    event = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.created",
             "partitionkey": KEY_P2, "priority": "low"}  # fmt: skip
    response = await api.client.post(
        "/api/v1/events",
        data=json.dumps(event),
        headers={**auth(), "Content-Type": "application/cloudevents+json"},
    )
    assert response.status == 202, await response.text()
    assert [t.id for t in await _on(api.redis, p3, "high")] == [high["data"]["id"]]
    assert [t.priority for t in await _on(api.redis, p3, "high")] == ["high"]
    [normal] = await _on(api.redis, p3, "normal")
    raw = (await entries(api.redis, p3.tasks))[0][1]
    assert b"priority" not in raw  # normal is left off the wire: old readers see no change
    assert normal.priority == ""
    assert [t.type for t in await _on(api.redis, p2, "low")] == ["t.b", "t.b", "order.created"]
    assert [t.type for t in await _on(api.redis, p2, "high")] == ["t.b"]
    assert [t.type for t in await _on(api.redis, p2, "normal")] == ["t.b"]
    low_event = (await _on(api.redis, p2, "low"))[2]
    assert "priority" not in json.loads(low_event.event_attributes)  # consumed, not carried


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/v1/tasks", {"type": "t.x", "priority": "urgent"}, "priority"),
        ("/api/v1/tasks", {"type": "t.x", "priority": 1}, "priority"),
        ("/api/v1/tasks/batch", {"tasks": [{"type": "t.x", "priority": "HIGH"}]}, "priority"),
    ],
)
async def test_an_unknown_priority_is_422_naming_the_field(
    api: Api, path: str, body: dict[str, Any], loc: str
) -> None:
    response = await api.client.post(path, json=body, headers=auth())
    assert response.status == 422
    text = await response.text()
    assert loc in text
    assert "high" in text  # the message names the choices
    assert sum([await api.redis.xlen(s) for qk in api.keys.shards("default")
                for s in qk.level_streams]) == 0  # fmt: skip


async def test_an_event_with_an_unknown_priority_is_422(api: Api) -> None:
    event = {"specversion": "1.0", "id": "e-2", "source": "/shop", "type": "order.created",
             "priority": "urgent"}  # fmt: skip
    response = await api.client.post(
        "/api/v1/events",
        data=json.dumps(event),
        headers={**auth(), "Content-Type": "application/cloudevents+json"},
    )
    assert response.status == 422
    assert "priority" in await response.text()


async def test_a_delayed_task_and_its_change_keep_the_priority(api: Api) -> None:
    p3 = api.keys.queue("default~3")
    body = {"type": "t.x", "payload": 1, "delay": 600, "partition_key": KEY_P3, "priority": "high"}
    _, created = await post_task(api, body)
    task_id = created["data"]["id"]
    changed = await api.client.put(f"/api/v1/tasks/{task_id}", json={"payload": 2}, headers=auth())
    assert changed.status == 202, await changed.text()
    await _promote(api, p3, "high", task_id, 1)
    [task] = await _on(api.redis, p3, "high")
    assert (task.priority, task.payload) == ("high", 2)
    assert await api.redis.xlen(p3.tasks) == 0


async def test_a_pending_tasks_change_keeps_its_priority(api: Api) -> None:
    p3 = api.keys.queue("default~3")
    body = {"type": "demo.echo", "payload": 1, "partition_key": KEY_P3, "priority": "low"}
    _, created = await post_task(api, body)
    task_id = created["data"]["id"]
    changed = await api.client.put(f"/api/v1/tasks/{task_id}", json={"payload": 2}, headers=auth())
    assert changed.status == 202, await changed.text()
    await _worker(api).run(burst=True)
    copies = [t for t in await _on(api.redis, p3, "low") if t.id == task_id]
    assert [(t.priority, t.payload) for t in copies] == [("low", 1), ("low", 2)]
    assert await api.redis.xlen(p3.tasks) == 0


async def test_a_retry_keeps_the_priority(api: Api) -> None:
    p2 = api.keys.queue("default~2")
    body = {"type": "demo.fail", "payload": {"times": 1}, "partition_key": KEY_P2,
            "priority": "high"}  # fmt: skip
    _, created = await post_task(api, body)
    task_id = created["data"]["id"]
    await _worker(api).run(burst=True)
    [(_, timer)] = await entries(api.redis, p2.timers_in)
    assert timer[b"priority"] == b"high"
    await _promote(api, p2, "high", task_id, 2)
    retried = [t for t in await _on(api.redis, p2, "high") if t.id == task_id][-1]
    assert (retried.attempt, retried.priority) == (2, "high")
    await _worker(api).run(burst=True)

    async def succeeded() -> bool:
        status = await api.client.get(f"/api/v1/tasks/{task_id}", headers=auth())
        shown: dict[str, Any] = await status.json()
        return bool(shown["data"]["status"] == "succeeded")

    await until(succeeded, "the retried high task succeeded")


async def test_a_replay_keeps_the_priority(api: Api) -> None:
    p2 = api.keys.queue("default~2")
    env = new_envelope(
        "t.x", {"x": 1}, "default", subject="alice", partition_key=KEY_P2, priority="low"
    )
    fields: Any = dead_fields(env.to_fields(), DeadReason.EXHAUSTED, "boom", 3, now_ms(), "1-0")
    added: Any = await api.redis.xadd(p2.dead, fields)
    entry_id = added.decode()
    path = f"/api/v1/dead-letters/default/{entry_id}/replay?partition=2"
    replay = await api.client.post(path, headers=auth(ADMIN))
    assert replay.status == 202, await replay.text()
    [task] = await _on(api.redis, p2, "low")
    assert (task.priority, task.partition_key) == ("low", KEY_P2)


async def test_schedule_fires_take_the_templates_priority(api: Api) -> None:
    start = 1_795_766_400_000  # 2026-11-27T08:00:00Z, a multiple of 5 s
    template = {"type": "demo.echo", "queue": "default", "partition_key": KEY_P3}
    definitions = [
        ScheduleDefinition.model_validate(
            {"id": sid, "cron": "@every 5s", "created_at_ms": start, "task": template | extra}
        )
        for sid, extra in (("hi", {"priority": "high"}), ("plain", {}))
    ]
    scheduler = Scheduler(api.redis, api.keys, SchedulerSettings(consumer="s-fire"))
    await scheduler.apply_file(definitions, start + 1)
    for now in (start + 1, start + 5_000):
        await scheduler.tick(now)
    p3 = api.keys.queue("default~3")
    assert [t.origin for t in await _on(api.redis, p3, "high")] == ["schedule:hi"]
    assert [t.origin for t in await _on(api.redis, p3, "normal")] == ["schedule:plain"]


async def test_queue_figures_sum_the_levels_and_show_each(api: Api) -> None:
    for level in ("high", "high", "low"):
        await post_task(api, {"type": "t.x", "partition_key": KEY_P3, "priority": level})
    await post_task(api, {"type": "t.x", "partition_key": KEY_P2})
    status, body = await get_json(api, "/api/v1/queues", ADMIN)
    assert status == 200, body
    default = body["data"]["items"][0]
    assert default["depth"] == 4
    shown = [(level["priority"], level["depth"]) for level in default["levels"]]
    assert shown == [("high", 2), ("normal", 1), ("low", 1)]
    p3 = default["partitions"][3]
    assert [(level["priority"], level["depth"]) for level in p3["levels"]] == [
        ("high", 2),
        ("normal", 0),
        ("low", 1),
    ]
