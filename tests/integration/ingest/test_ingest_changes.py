"""DELETE (cancel) and PUT (change) of tasks that have not started."""

from __future__ import annotations

import json
from typing import Any

from conveyor.control import ControlOp, decode_control
from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType, event_fields
from conveyor_ingest.store import now_ms
from integration.ingest.ingest_support import Api, auth, entries, get_json, post_task, until


async def test_cancel_pending_task_sends_a_control_message(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo"})
    task_id = body["data"]["id"]
    response = await api.client.delete(f"/api/v1/tasks/{task_id}", headers=auth())
    assert response.status == 202
    assert (await response.json())["data"]["status"] == "cancelled"
    written = await entries(api.redis, api.keys.queue("default").control)
    message = decode_control(written[0][1])
    assert (message.op, message.task_id) == (ControlOp.CANCEL, task_id)
    assert message.until_ms is not None
    assert message.until_ms >= now_ms() + api.settings.max_delay * 1000 - 60_000
    again = await api.client.delete(f"/api/v1/tasks/{task_id}", headers=auth())
    assert again.status == 202
    assert len(await entries(api.redis, api.keys.queue("default").control)) == 1


async def test_cancel_of_a_started_task_gets_409(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo"})
    task_id = body["data"]["id"]
    env = new_envelope("demo.echo", None, "default", task_id=task_id, subject="alice")
    fields = event_fields(TaskEventType.STARTED, env, now_ms())
    await api.redis.xadd(api.keys.queue("default").events, fields)  # type: ignore[arg-type]

    async def started() -> bool:
        got = await api.client.get(f"/api/v1/tasks/{task_id}", headers=auth())
        return bool((await got.json())["data"]["status"] == "running")

    await until(started, "running")
    response = await api.client.delete(f"/api/v1/tasks/{task_id}", headers=auth())
    assert response.status == 409
    missing = await api.client.delete("/api/v1/tasks/nope", headers=auth())
    assert missing.status == 404


async def test_put_of_a_scheduled_task_sends_a_replace_like_a_pending_one(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo", "payload": 1, "delay": 600})
    task_id = body["data"]["id"]
    response = await api.client.put(
        f"/api/v1/tasks/{task_id}", json={"payload": {"v": 2}, "delay": 30}, headers=auth()
    )
    assert response.status == 202, await response.text()
    assert (await response.json())["data"] == {
        "id": task_id, "queue": "default", "status": "scheduled", "revision": 1,
    }  # fmt: skip
    ((_, fields),) = await entries(api.redis, api.keys.queue("default").control)
    message = decode_control(fields)
    assert (message.op, message.task_id, message.revision) == (ControlOp.REPLACE, task_id, 1)
    changes = json.loads(message.changes)
    assert changes["data"] == '{"v":2}'  # compact, as POST writes data
    assert now_ms() + 25_000 < int(changes["due_ms"]) < now_ms() + 35_000


async def test_put_of_a_pending_task_sends_cumulative_replaces(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo", "payload": 1, "max_attempts": 5})
    task_id = body["data"]["id"]
    path = f"/api/v1/tasks/{task_id}"
    first = await api.client.put(path, json={"payload": {"v": 2}}, headers=auth())
    assert first.status == 202, await first.text()
    assert (await first.json())["data"] == {
        "id": task_id, "queue": "default", "status": "pending", "revision": 1,
    }  # fmt: skip
    second = await api.client.put(path, json={"max_attempts": None, "delay": 30}, headers=auth())
    assert (await second.json())["data"]["revision"] == 2
    written = await entries(api.redis, api.keys.queue("default").control)
    messages = [decode_control(fields) for _, fields in written]
    assert [(m.op, m.task_id, m.revision) for m in messages] == [
        (ControlOp.REPLACE, task_id, 1), (ControlOp.REPLACE, task_id, 2),
    ]  # fmt: skip
    assert json.loads(messages[0].changes) == {"data": '{"v":2}'}
    changes = json.loads(messages[1].changes)
    assert changes["data"] == '{"v":2}'  # the first change is carried along
    assert changes["max_attempts"] == ""  # null removes the option
    assert now_ms() + 25_000 < int(changes["due_ms"]) < now_ms() + 35_000
    assert all(m.until_ms and m.until_ms > now_ms() + 60_000 for m in messages)
    _, view = await get_json(api, path)
    assert view["data"]["revision"] == 2
    assert view["data"]["due_at"] is not None
    assert view["data"]["change_rejected"] is False


async def test_put_once_started_gets_409_and_bad_bodies_422(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo"})
    task_id = body["data"]["id"]
    path = f"/api/v1/tasks/{task_id}"
    env = new_envelope("demo.echo", None, "default", task_id=task_id, subject="alice")
    fields = event_fields(TaskEventType.STARTED, env, now_ms())
    await api.redis.xadd(api.keys.queue("default").events, fields)  # type: ignore[arg-type]

    async def started() -> bool:
        return bool((await get_json(api, path))[1]["data"]["status"] == "running")

    await until(started, "running")
    response = await api.client.put(path, json={"payload": 2}, headers=auth())
    assert response.status == 409
    assert await entries(api.redis, api.keys.queue("default").control) == []
    response = await api.client.put(path, json={"colour": 2}, headers=auth())
    assert response.status == 422


async def test_started_event_of_an_older_revision_shows_the_change_rejected(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo", "payload": "old"})
    task_id = body["data"]["id"]
    path = f"/api/v1/tasks/{task_id}"
    response = await api.client.put(path, json={"payload": "new"}, headers=auth())
    assert response.status == 202
    env = new_envelope("demo.echo", "old", "default", task_id=task_id, subject="alice")
    fields = event_fields(TaskEventType.STARTED, env, now_ms())  # revision 0 ran
    await api.redis.xadd(api.keys.queue("default").events, fields)  # type: ignore[arg-type]

    async def shown() -> dict[str, Any]:
        data: dict[str, Any] = (await get_json(api, path))[1]["data"]
        return data if data["status"] == "running" else {}

    data = await until(shown, "running")
    assert (data["revision"], data["change_rejected"]) == (1, True)
