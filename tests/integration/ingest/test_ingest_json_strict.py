"""No NaN or Infinity in or out of the API: every entry refuses them with the field path,
and every JSON body the tests receive is parsed strictly (``StrictJsonResponse``)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from conveyor.errors import JsonNumberError
from integration.ingest.ingest_support import (
    Api,
    StrictJsonResponse,
    auth,
    get_json,
    make_token,
    post_task,
)

JSON = {"Content-Type": "application/json"}
SCHEDULE_TOKEN = make_token(scope="schedules:write tasks:read")


async def _send(api: Api, method: str, path: str, text: str, **headers: str) -> tuple[int, Any]:
    response = await api.client.request(
        method, path, data=text, headers={**auth(), **JSON, **headers}
    )
    return response.status, await response.json()


def _locs(body: Any) -> list[str]:
    return [error["loc"] for error in body["errors"]]


async def test_the_test_client_refuses_a_non_finite_body() -> None:
    """The hook that guards every other test here can fail."""

    async def nan(_: web.Request) -> web.Response:
        return web.Response(text='{"data":{"x":NaN}}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/", nan)
    async with TestClient(TestServer(app), response_class=StrictJsonResponse) as client:
        with pytest.raises(JsonNumberError, match=r"at data\.x"):
            await client.get("/")


async def test_put_of_a_non_finite_payload_gets_422_with_the_field_path(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo", "payload": 1})
    path = f"/api/v1/tasks/{body['data']['id']}"
    status, answer = await _send(api, "PUT", path, '{"payload":{"x":Infinity,"y":NaN}}')
    assert status == 422
    assert _locs(answer) == ["body.payload.x"]
    assert "Infinity is not a JSON number" in str(answer)
    (_, shown) = await get_json(api, path)
    assert shown["data"]["revision"] == 0  # nothing changed


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_post_of_a_non_finite_payload_gets_422(api: Api, number: str) -> None:
    status, answer = await _send(
        api, "POST", "/api/v1/tasks", f'{{"type":"demo.echo","payload":{{"x":[{number}]}}}}'
    )
    assert status == 422
    assert "x.0" in str(answer)
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 0


async def test_cloudevents_with_non_finite_data_get_422(api: Api) -> None:
    event = '{"specversion":"1.0","id":"e","source":"/s","type":"t.x","data":{"x":NaN}}'
    structured = {"Content-Type": "application/cloudevents+json"}
    status, answer = await _send(api, "POST", "/api/v1/events", event, **structured)
    assert (status, _locs(answer)) == (422, ["body.data.x"])
    binary = {"ce-specversion": "1.0", "ce-id": "e", "ce-source": "/s", "ce-type": "t.x"}
    status, answer = await _send(api, "POST", "/api/v1/events", '{"x":NaN}', **binary)
    assert (status, _locs(answer)) == (422, ["body.x"])
    encoded = base64.b64encode(b'{"x":[1,Infinity]}').decode()
    event = ('{"specversion":"1.0","id":"e","source":"/s","type":"t.x",'
             f'"datacontenttype":"application/json","data_base64":"{encoded}"}}')  # fmt: skip
    status, answer = await _send(api, "POST", "/api/v1/events", event, **structured)
    assert (status, _locs(answer)) == (422, ["data_base64.x.1"])
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 0


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_schedule_with_a_non_finite_number_gets_422_not_a_stored_null(
    api: Api, method: str
) -> None:
    text = '{"id":"n","cron":"@daily","task":{"type":"t.x","payload":{"rate":NaN}}}'
    path = "/api/v1/schedules" + ("/n" if method == "PUT" else "")
    status, answer = await _send(api, method, path, text, **auth(SCHEDULE_TOKEN))
    assert (status, _locs(answer)) == (422, ["body.task.payload.rate"])
    assert await api.redis.xlen(api.keys.schedule_changes) == 0


async def test_a_stored_non_finite_result_is_still_answered_as_json(api: Api) -> None:
    """A result an older worker stored as bare NaN is shown as its text, never as NaN."""
    _, body = await post_task(api, {"type": "demo.echo"})
    task_id = body["data"]["id"]
    qk = api.keys.queue("default")
    record = qk.task_status(task_id)
    fields: dict[str, str] = {"id": task_id, "queue": "default", "type": "demo.echo"}
    fields |= {"subject": "alice", "status": "succeeded", "result": '{"x":NaN}'}
    await api.redis.hset(record, mapping=fields)  # type: ignore[arg-type]  # invariant Mapping
    await api.redis.zadd(qk.status_index, {f"{'0' * 13}:{task_id}": 0})
    status, shown = await get_json(api, f"/api/v1/tasks/{task_id}")
    assert (status, shown["data"]["result"]) == (200, '{"x":NaN}')
    status, _ = await get_json(api, "/api/v1/tasks")
    assert status == 200  # parsed strictly by the client: no bare NaN anywhere
