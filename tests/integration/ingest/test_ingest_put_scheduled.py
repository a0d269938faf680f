"""PUT of a delayed task: a change answered 202 is applied once or shown rejected, never lost.

The read model is driven by hand here (the app runs without its consumer), so a
test can hold the scheduler's PENDING event back: the read model still says
``scheduled`` after the timer was promoted, which is the race this guards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from conveyor.handlers import Registry
from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.consumer import ReadModelConsumer
from conveyor_ingest.store import now_ms
from conveyor_scheduler.control import ControlConsumer
from conveyor_scheduler.reading import GroupReader
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.testing import StreamView, recording_registry
from conveyor_worker.worker import Worker
from integration.ingest.ingest_support import Api, auth, get_json, ingest_settings, post_task

HOUR_MS = 3_600_000


@pytest.fixture
async def api(redis: Redis, redis_settings: RedisSettings, api_keys: Keys) -> AsyncIterator[Api]:
    """The ingest app without its read-model consumer (see apply_events)."""
    settings = ingest_settings()
    app = create_app(settings, redis_settings, consume=False)
    async with TestClient(TestServer(app)) as client:
        yield Api(client=client, redis=redis, keys=api_keys, settings=settings)


async def apply_events(api: Api) -> None:
    """Let the read model apply every event written so far."""
    consumer = ReadModelConsumer(api.redis, api.keys, api.settings.status_retention)
    await consumer.ensure_groups()
    while await consumer.step(block_ms=1):
        pass


async def view(api: Api, task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await get_json(api, f"/api/v1/tasks/{task_id}"))[1]["data"]
    return data


async def put(api: Api, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.put(f"/api/v1/tasks/{task_id}", json=body, headers=auth())
    assert response.status == 202, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


def scheduler(api: Api) -> Scheduler:
    return Scheduler(api.redis, api.keys, SchedulerSettings(consumer="s"))


def worker(api: Api, registry: Registry) -> Worker:
    return Worker(api.redis, WorkerSettings(block_ms=50, breaker_enabled=False), registry, api.keys)


async def promoted_unseen(api: Api) -> str:
    """A delayed task whose timer the scheduler promoted, the read model not told yet."""
    _, body = await post_task(api, {"type": "t.rec", "payload": "old", "delay": 60})
    task_id: str = body["data"]["id"]
    result = await scheduler(api).tick(now_ms() + 120_000)
    assert (result.filed, result.promoted) == (1, 1)
    assert (await view(api, task_id))["status"] == "scheduled"
    return task_id


async def test_put_after_promotion_unseen_by_the_read_model_is_applied_by_the_worker(
    api: Api,
) -> None:
    task_id = await promoted_unseen(api)
    answer = await put(api, task_id, {"payload": "new"})
    assert (answer["status"], answer["revision"]) == ("scheduled", 1)
    assert (await scheduler(api).tick(now_ms())).replaced == 0  # no timer left to change
    registry, runs = recording_registry()
    await worker(api, registry).run(burst=True)
    assert runs == [("new", 1)]
    await apply_events(api)
    done = await view(api, task_id)
    assert (done["status"], done["result"], done["attempts"]) == ("succeeded", "new", 1)
    assert (done["revision"], done["change_rejected"]) == (1, False)


async def test_a_due_time_put_after_promotion_is_honoured_by_re_delaying_the_task(
    api: Api,
) -> None:
    task_id = await promoted_unseen(api)
    put_at = now_ms()
    await put(api, task_id, {"payload": "later", "delay": 3600})
    registry, runs = recording_registry()
    await worker(api, registry).run(burst=True)
    assert runs == []  # the worker put the changed task back as a timer
    first, timer = await StreamView(api.redis, api.keys.queue("default")).timers()
    assert (first.envelope.payload, first.envelope.revision) == ("old", 0)  # ingest's
    assert (timer.envelope.payload, timer.envelope.revision) == ("later", 1)
    assert put_at + HOUR_MS <= timer.due_ms <= now_ms() + HOUR_MS
    result = await scheduler(api).tick(timer.due_ms)
    assert (result.filed, result.promoted) == (1, 1)
    await worker(api, registry).run(burst=True)
    assert runs == [("later", 1)]
    await apply_events(api)
    done = await view(api, task_id)
    assert (done["status"], done["result"], done["revision"]) == ("succeeded", "later", 1)
    assert done["change_rejected"] is False


async def test_put_after_promotion_that_a_worker_started_first_is_shown_rejected(
    api: Api,
) -> None:
    task_id = await promoted_unseen(api)
    registry, runs = recording_registry()
    consumer = worker(api, registry).queues[0]
    await consumer.setup()
    assert await consumer.read_once(None) == 1  # taken: its start op waits in the committer
    await put(api, task_id, {"payload": "new"})
    await consumer.committer.flush()  # the start: no change recorded yet, the old task runs
    assert await consumer.control.poll(None) == 1  # the change is filed, too late
    await consumer.committer.flush()
    await worker(api, registry).run(burst=True)
    assert runs == [("old", 0)]  # and nothing else ever runs
    await apply_events(api)
    done = await view(api, task_id)
    assert (done["status"], done["result"]) == ("succeeded", "old")
    assert (done["revision"], done["change_rejected"]) == (1, True)


async def test_put_of_a_held_timer_changes_its_payload_and_due_time_once(api: Api) -> None:
    _, body = await post_task(api, {"type": "t.rec", "payload": "old", "delay": 3600})
    task_id = body["data"]["id"]
    assert (await scheduler(api).tick(now_ms())).filed == 1
    put_at = now_ms()
    await put(api, task_id, {"payload": "new", "delay": 60})
    assert (await scheduler(api).tick(now_ms())).replaced == 1
    due = await api.redis.zscore(api.keys.queue("default").timer_index, task_id)
    assert due is not None
    assert put_at + 60_000 <= due <= now_ms() + 60_000
    assert (await scheduler(api).tick(int(due))).promoted == 1
    registry, runs = recording_registry()
    await worker(api, registry).run(burst=True)
    # The promoted task carries revision 1: the worker's mark of it has nothing to apply.
    assert runs == [("new", 1)]
    await apply_events(api)
    done = await view(api, task_id)
    assert (done["status"], done["result"], done["revision"]) == ("succeeded", "new", 1)
    assert done["change_rejected"] is False


async def test_put_applied_by_control_before_its_timer_is_filed_runs_at_the_new_due_time(
    api: Api,
) -> None:
    """The replace reaches the scheduler while the timer waits unread in timers-in (an
    intake backlog, or another replica holding it): the scheduler records the change and
    applies it when it files the timer, whether or not a worker has read the replace."""
    q = api.keys.queue("default")
    _, body = await post_task(api, {"type": "t.rec", "payload": "old", "delay": 3600})
    task_id = body["data"]["id"]
    registry, runs = recording_registry()
    put_at = now_ms()
    assert (await put(api, task_id, {"payload": "new", "delay": 60}))["revision"] == 1
    other = ControlConsumer(api.redis, q, GroupReader(api.redis, q.control, "s2", 500, 60_000))
    assert (await other.run_once(now_ms())).replaced == 0  # no timer filed yet: recorded
    assert await api.redis.hexists(q.replaces, task_id)
    assert not await api.redis.exists(q.replaced)  # no worker has read the replace
    result = await scheduler(api).tick(now_ms())
    assert (result.filed, result.replaced, result.promoted) == (1, 1, 0)
    due = await api.redis.zscore(q.timer_index, task_id)
    assert due is not None
    assert put_at + 60_000 <= due <= now_ms() + 60_000  # not the old due time, an hour away
    assert (await scheduler(api).tick(int(due) - 1)).promoted == 0
    assert not await api.redis.hexists(q.replaces, task_id)  # used up
    assert (await scheduler(api).tick(int(due))).promoted == 1
    await worker(api, registry).run(burst=True)
    assert runs == [("new", 1)]  # once, changed; the mark had nothing left to apply
    await apply_events(api)
    done = await view(api, task_id)
    assert (done["status"], done["result"], done["attempts"]) == ("succeeded", "new", 1)
    assert (done["revision"], done["change_rejected"]) == (1, False)
    (timer,) = await StreamView(api.redis, q).timers()  # ingest's: no worker re-delayed it
    assert (timer.envelope.payload, timer.envelope.revision) == ("old", 0)
