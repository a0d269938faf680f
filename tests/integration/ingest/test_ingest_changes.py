"""DELETE (cancel) and PUT (change) of tasks that have not started."""

from __future__ import annotations

from conveyor.control import ControlOp, decode_control
from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType, event_fields
from conveyor.timers import decode_timer
from conveyor_ingest.store import now_ms
from integration.ingest.ingest_support import Api, auth, entries, post_task, until


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


async def test_put_changes_a_scheduled_task_through_the_control_stream(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo", "payload": 1, "delay": 600})
    task_id = body["data"]["id"]
    response = await api.client.put(
        f"/api/v1/tasks/{task_id}", json={"payload": {"v": 2}, "delay": 30}, headers=auth()
    )
    assert response.status == 202, await response.text()
    written = await entries(api.redis, api.keys.queue("default").control)
    assert decode_control(written[0][1]).op is ControlOp.UPDATE
    timer = decode_timer(written[0][0], written[0][1], "default")
    assert timer.envelope.id == task_id
    assert timer.envelope.payload == {"v": 2}
    assert timer.due_ms < now_ms() + 60_000


async def test_put_of_a_runnable_task_gets_409_and_bad_bodies_422(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo"})
    path = f"/api/v1/tasks/{body['data']['id']}"
    response = await api.client.put(path, json={"payload": 2}, headers=auth())
    assert response.status == 409
    response = await api.client.put(path, json={"colour": 2}, headers=auth())
    assert response.status == 422
