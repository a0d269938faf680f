"""PUT of a pending task through the API, with a worker in the same process: the worker
decides at the start whether the change applies, and the read model says what ran."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from conveyor.handlers import Registry
from conveyor.keys import Keys
from conveyor_ingest.store import now_ms
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.testing import StreamView, recording_registry
from conveyor_worker.worker import Worker
from integration.ingest.ingest_support import Api, auth, entries, get_json, post_task, until


def worker(redis: Redis, keys: Keys, registry: Registry) -> Worker:
    """A worker on the API's keys (both queues)."""
    return Worker(redis, WorkerSettings(block_ms=50, breaker_enabled=False), registry, keys)


async def finished(api: Api, task_id: str) -> dict[str, Any]:
    """The task's view once it is final (GET ?wait)."""

    async def probe() -> dict[str, Any]:
        data: dict[str, Any] = (await get_json(api, f"/api/v1/tasks/{task_id}?wait=5"))[1]["data"]
        return data if data["status"] in ("succeeded", "dead", "cancelled") else {}

    return await until(probe, f"task {task_id} finished")


async def put(api: Api, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.put(f"/api/v1/tasks/{task_id}", json=body, headers=auth())
    assert response.status == 202, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def test_put_of_a_pending_task_runs_only_the_changed_task_once(api: Api) -> None:
    registry, runs = recording_registry()
    _, body = await post_task(api, {"type": "t.rec", "payload": "old"})
    task_id = body["data"]["id"]
    assert (await put(api, task_id, {"payload": "first"}))["revision"] == 1
    assert (await put(api, task_id, {"payload": "last"}))["revision"] == 2
    await worker(api.redis, api.keys, registry).run(burst=True)
    assert runs == [("last", 2)]
    done = await finished(api, task_id)
    assert (done["status"], done["result"], done["attempts"]) == ("succeeded", "last", 1)
    assert (done["revision"], done["change_rejected"]) == (2, False)


async def test_put_racing_a_worker_that_started_the_task_is_shown_rejected(api: Api) -> None:
    """The worker's start commits before its control consumer files the change."""
    registry, runs = recording_registry()
    _, body = await post_task(api, {"type": "t.rec", "payload": "old"})
    task_id = body["data"]["id"]
    consumer = worker(api.redis, api.keys, registry).queues[0]
    await consumer.setup()
    assert await consumer.read_once(None) == 1  # taken: its start op waits in the committer
    assert (await put(api, task_id, {"payload": "new"}))["status"] == "pending"
    await consumer.committer.flush()  # the start: no change recorded yet, the old task runs
    assert await consumer.control.poll(None) == 1  # the change is filed, too late
    await consumer.committer.flush()
    assert runs == [("old", 0)]
    done = await finished(api, task_id)
    assert (done["status"], done["result"]) == ("succeeded", "old")
    assert (done["revision"], done["change_rejected"]) == (1, True)
    await worker(api.redis, api.keys, registry).run(burst=True)
    assert runs == [("old", 0)]  # nothing else ever runs


async def test_put_with_a_delay_makes_a_timer_that_a_later_put_moves(api: Api) -> None:
    registry, runs = recording_registry()
    _, body = await post_task(api, {"type": "t.rec", "payload": "old"})
    task_id = body["data"]["id"]
    await put(api, task_id, {"payload": "later", "delay": 3600})
    await worker(api.redis, api.keys, registry).run(burst=True)
    assert runs == []
    path = f"/api/v1/tasks/{task_id}"

    async def scheduled() -> dict[str, Any]:
        data: dict[str, Any] = (await get_json(api, path))[1]["data"]
        return data if data["status"] == "scheduled" else {}

    data = await until(scheduled, "scheduled")
    assert data["due_at"] is not None
    (timer,) = await StreamView(api.redis, api.keys.queue("default")).timers()
    assert (timer.envelope.payload, timer.envelope.revision) == ("later", 1)
    # The scheduler applies the later change to the timer, so "now" holds now, not in an hour.
    assert (await put(api, task_id, {"payload": "again", "delay": 0}))["revision"] == 2
    scheduler = Scheduler(api.redis, api.keys, SchedulerSettings(consumer="s"))
    result = await scheduler.tick(now_ms())
    assert (result.filed, result.replaced, result.promoted) == (1, 1, 1)
    await worker(api.redis, api.keys, registry).run(burst=True)
    assert runs == [("again", 2)]
    done = await finished(api, task_id)
    assert (done["status"], done["result"], done["revision"]) == ("succeeded", "again", 2)
    assert done["change_rejected"] is False


async def test_a_task_cancelled_before_it_started_shows_no_attempt(api: Api) -> None:
    """The worker's ``cancelled`` event (its start turned into a cancel) counts no attempt."""
    registry, runs = recording_registry()
    _, body = await post_task(api, {"type": "t.rec", "payload": "old"})
    task_id = body["data"]["id"]
    response = await api.client.delete(f"/api/v1/tasks/{task_id}", headers=auth())
    assert response.status == 202, await response.text()
    await worker(api.redis, api.keys, registry).run(burst=True)
    assert runs == []
    events = api.keys.queue("default").events
    cancelled = [
        fields for _, fields in await entries(api.redis, events)
        if fields[b"task_id"] == task_id.encode() and fields[b"event"] == b"cancelled"
    ]  # fmt: skip
    assert cancelled
    assert cancelled[0][b"attempt"] == b"1"

    async def applied() -> bool:
        (group,) = await api.redis.xinfo_groups(events)
        return bool(group["pending"] == 0 and group["lag"] == 0)

    await until(applied, "the read model applied the worker's events")
    done = await finished(api, task_id)
    assert (done["status"], done["attempts"], done["started_at"]) == ("cancelled", 0, None)
