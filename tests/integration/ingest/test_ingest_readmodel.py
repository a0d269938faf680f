"""The read model follows the lifecycle events stream (consumer group ``ingest``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.events import TaskEventType, event_fields
from conveyor.records import BUCKET_MS, bucket_key
from conveyor_ingest.store import now_ms
from integration.ingest.ingest_support import Api, auth, get_json, make_token, post_task, until

ADMIN = make_token(sub="root", scope="admin")


async def _emit(api: Api, event: TaskEventType, env: TaskEnvelope, **extra: Any) -> None:
    fields = event_fields(event, env, now_ms(), **extra)
    await api.redis.xadd(api.keys.queue(env.queue).events, fields)  # type: ignore[arg-type]


async def _status_is(api: Api, task_id: str, status: str) -> dict[str, Any]:
    code, body = await get_json(api, f"/api/v1/tasks/{task_id}", ADMIN)
    if code == 200 and body["data"]["status"] == status:
        return dict(body["data"])
    return {}


async def _posted(api: Api) -> TaskEnvelope:
    _, body = await post_task(api, {"type": "demo.echo", "payload": 1})
    task_id = body["data"]["id"]
    return new_envelope("demo.echo", 1, "default", task_id=task_id, subject="alice")


async def test_started_then_succeeded_shows_result_as_json(api: Api) -> None:
    env = await _posted(api)
    await _emit(api, TaskEventType.STARTED, env)
    running = await until(lambda: _status_is(api, env.id, "running"), "running")
    assert running["attempts"] == 1
    assert running["started_at"]
    await _emit(api, TaskEventType.SUCCEEDED, env, result=json.dumps({"echo": [1, 2]}))
    done = await until(lambda: _status_is(api, env.id, "succeeded"), "succeeded")
    assert done["result"] == {"echo": [1, 2]}
    assert done["finished_at"]
    assert done["error"] is None


async def test_retry_cycle_then_dead(api: Api) -> None:
    env = await _posted(api)
    await _emit(api, TaskEventType.STARTED, env)
    await _emit(api, TaskEventType.RETRYING, env, error="boom", due_ms=now_ms() + 1000)
    second = env.next_attempt()
    await _emit(api, TaskEventType.PENDING, second)
    await _emit(api, TaskEventType.STARTED, second)
    await _emit(api, TaskEventType.DEAD, second, error="boom again")
    dead = await until(lambda: _status_is(api, env.id, "dead"), "dead")
    assert dead["attempts"] == 2
    assert dead["error"] == "boom again"


async def test_stale_event_does_not_move_a_task_back(api: Api) -> None:
    env = await _posted(api)
    await _emit(api, TaskEventType.SUCCEEDED, env, result="1")
    await _emit(api, TaskEventType.STARTED, env)  # late, out of order
    await _emit(api, TaskEventType.DROPPED, new_envelope("demo.echo", 1, "default"))
    await until(lambda: _all_acknowledged(api), "events acknowledged")
    assert await _status_is(api, env.id, "succeeded")


async def _all_acknowledged(api: Api) -> bool:
    stream = api.keys.queue("default").events
    groups = await api.redis.xinfo_groups(stream)
    ingest = next(g for g in groups if g["name"] in (b"ingest", "ingest"))
    return bool(ingest["pending"] == 0 and ingest["entries-read"] == 3)


async def test_task_first_seen_through_an_event_is_created(api: Api) -> None:
    env = new_envelope("report.daily", None, "other", subject="", origin="schedule:daily")
    await _emit(api, TaskEventType.PENDING, env)
    view = await until(lambda: _status_is(api, env.id, "pending"), "created")
    assert view["origin"] == "schedule:daily"
    assert view["queue"] == "other"
    _, body = await get_json(api, "/api/v1/tasks?queue=other", ADMIN)
    assert [item["id"] for item in body["data"]["items"]] == [env.id]


async def test_records_expire_and_the_index_is_trimmed(api: Api) -> None:
    env = await _posted(api)
    qk = api.keys.queue("default")
    # Until its first event the record is a field of its second's accepted bucket.
    ttl = await api.redis.pttl(bucket_key(qk, env.id))
    assert 0 < ttl <= api.settings.status_retention * 1000 + BUCKET_MS
    old = "0000000000001:old-task"
    await api.redis.zadd(qk.status_index, {old: 0})
    await post_task(api, {"type": "demo.echo"})
    assert await api.redis.zscore(qk.status_index, old) is None


async def test_wait_returns_when_the_task_finishes(api: Api) -> None:
    env = await _posted(api)

    async def finish_later() -> None:
        await asyncio.sleep(0.2)  # let the GET start waiting first (order, not a sync point)
        await _emit(api, TaskEventType.SUCCEEDED, env, result='"ok"')

    finisher = asyncio.create_task(finish_later())
    code, body = await get_json(api, f"/api/v1/tasks/{env.id}?wait=30")
    await finisher
    assert code == 200
    assert body["data"]["status"] == "succeeded"
    assert body["data"]["result"] == "ok"


async def test_server_sent_events_follow_the_task_until_it_finishes(api: Api) -> None:
    env = await _posted(api)
    statuses: list[str] = []
    async with api.client.get(f"/api/v1/tasks/{env.id}/events", headers=auth()) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for line in response.content:
            if not line.startswith(b"data: "):
                continue
            statuses.append(json.loads(line[6:])["status"])
            if statuses == ["pending"]:
                await _emit(api, TaskEventType.STARTED, env)
            elif statuses[-1] == "running":
                await _emit(api, TaskEventType.SUCCEEDED, env, result="1")
    assert statuses == ["pending", "running", "succeeded"]


async def test_first_event_turns_the_accepted_record_into_the_record_hash(api: Api) -> None:
    env = await _posted(api)
    qk = api.keys.queue("default")
    _, before = await get_json(api, f"/api/v1/tasks/{env.id}", ADMIN)
    assert before["data"]["status"] == "pending"
    assert await api.redis.hexists(bucket_key(qk, env.id), env.id)
    await _emit(api, TaskEventType.STARTED, env)
    running = await until(lambda: _status_is(api, env.id, "running"), "running")
    assert running["created_at"] == before["data"]["created_at"]  # the accept time, kept
    assert running["subject"] == "alice"
    assert not await api.redis.hexists(bucket_key(qk, env.id), env.id)
    assert await api.redis.pttl(qk.task_status(env.id)) > 0
    _, page = await get_json(api, "/api/v1/tasks?status=running", ADMIN)
    assert [item["id"] for item in page["data"]["items"]] == [env.id]  # one index entry
    assert await api.redis.zcard(qk.status_index) == 1
