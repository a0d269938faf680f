"""POST/GET /api/v1/tasks against a real server."""

from __future__ import annotations

from conftest import Api, auth

from conveyor.envelope import decode_envelope
from conveyor.timers import decode_timer


async def test_post_task_answers_202_and_writes_the_stream_and_the_read_model(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/tasks", json={"type": "demo.echo", "payload": {"n": 1}}, headers=auth()
    )
    body = await response.json()
    assert response.status == 202, body
    assert body["code"] == 202
    assert body["data"]["status"] == "pending"
    assert body["data"]["queue"] == "default"
    task_id = body["data"]["id"]
    entries = await api.redis.xrange(api.keys.queue("default").tasks)
    assert len(entries) == 1
    envelope = decode_envelope(entries[0][0].decode(), entries[0][1], "default")
    assert envelope.id == task_id
    assert envelope.payload == {"n": 1}
    assert envelope.subject == "alice"
    assert envelope.origin == "api"
    got = await api.client.get(f"/api/v1/tasks/{task_id}", headers=auth())
    view = (await got.json())["data"]
    assert got.status == 200
    assert view["status"] == "pending"
    assert view["type"] == "demo.echo"
    assert view["attempts"] == 0


async def test_delayed_task_goes_to_the_timer_stream_as_scheduled(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/tasks",
        json={"type": "demo.echo", "payload": 1, "delay": 60, "queue": "other"},
        headers=auth(),
    )
    body = await response.json()
    assert response.status == 202, body
    assert body["data"]["status"] == "scheduled"
    assert await api.redis.xlen(api.keys.queue("other").tasks) == 0
    entries = await api.redis.xrange(api.keys.queue("other").timers_in)
    timer = decode_timer(entries[0][0].decode(), entries[0][1], "other")
    assert timer.envelope.id == body["data"]["id"]
