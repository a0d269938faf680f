"""The API contract (issue 12): the generated document, strict bodies, actionable errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conveyor.deadletter import DeadReason, dead_fields
from conveyor.envelope import new_envelope
from conveyor_ingest.store import now_ms
from integration.ingest.ingest_support import Api, auth, get_json, make_token, post_task

ADMIN = make_token(sub="root", scope="admin")
JSON = {"Content-Type": "application/json"}


async def _document(api: Api) -> dict[str, Any]:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


async def test_the_document_has_one_operation_per_route_of_the_app(api: Api) -> None:
    document = await _document(api)
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    app = api.client.app
    assert app is not None
    served = set()
    for route in app.router.routes():
        assert route.resource is not None
        if route.method != "HEAD":  # aiohttp's own, beside each GET
            served.add((route.method, route.resource.canonical))
    assert documented == served
    for needed in [
        ("GET", "/api/v1/dead-letters/{queue}/{entry_id}"),
        ("DELETE", "/api/v1/dead-letters/{queue}/{entry_id}"),
        ("POST", "/api/v1/dead-letters/{queue}/{entry_id}/replay"),
        ("GET", "/livez"),
        ("GET", "/readyz"),
    ]:
        assert needed in documented


async def test_every_envelope_success_is_typed_and_one_status_per_operation(api: Api) -> None:
    document = await _document(api)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = [code for code in operation["responses"] if code.startswith("2")]
            assert len(statuses) == 1, (method, path, statuses)
            content = operation["responses"][statuses[0]]["content"]
            schema = content.get("application/json", {}).get("schema", {})
            data = schema.get("properties", {}).get("data")
            if data is not None:
                assert "$ref" in data, (method, path, data)
            for code, answer in operation["responses"].items():
                assert "content" in answer, (method, path, code)


async def test_bodies_and_the_idempotency_key_are_declared(api: Api) -> None:
    paths = (await _document(api))["paths"]
    events = paths["/api/v1/events"]["post"]
    assert "application/cloudevents+json" in events["requestBody"]["content"]
    for path in ("/api/v1/tasks", "/api/v1/tasks/batch", "/api/v1/events"):
        names = [parameter["name"] for parameter in paths[path]["post"]["parameters"]]
        assert "Idempotency-Key" in names, path


async def test_a_batch_answer_has_the_shape_its_schema_declares(api: Api) -> None:
    document = await _document(api)
    declared = document["paths"]["/api/v1/tasks/batch"]["post"]["responses"]["202"]
    ref = declared["content"]["application/json"]["schema"]["properties"]["data"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    body = {"tasks": [{"type": "demo.echo"}, {"type": "demo.echo", "delay": 60}]}
    response = await api.client.post("/api/v1/tasks/batch", json=body, headers=auth())
    data = (await response.json())["data"]
    assert response.status == 202
    assert set(schema["required"]) <= set(data)
    assert set(data) <= set(schema["properties"])
    assert [item["index"] for item in data["items"]] == [0, 1]


@pytest.mark.parametrize("method", ["TRACE", "PATCH"])
async def test_an_unsupported_method_is_a_405_envelope_with_allow(api: Api, method: str) -> None:
    response = await api.client.request(method, "/api/v1/tasks/batch", headers=auth())
    body = await response.json()
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert body["code"] == 405
    assert "allowed: POST" in body["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("delay", "5"), ("delay", True), ("max_attempts", "3"), ("run_at", 0), ("timeout", "9")],
)
async def test_request_bodies_are_not_coerced(api: Api, field: str, value: object) -> None:
    status, body = await post_task(api, {"type": "demo.echo", field: value})
    assert status == 422, body
    assert [error["loc"] for error in body["errors"]] == [field]
    response = await api.client.put(
        "/api/v1/tasks/0192d3f0-0000-7000-8000-000000000000", json={field: value}, headers=auth()
    )
    assert response.status == 422


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_of_another_content_type_is_a_415_naming_the_accepted(
    api: Api, content_type: str | None
) -> None:
    headers = auth() if content_type is None else {**auth(), "Content-Type": content_type}
    body = json.dumps({"type": "demo.echo"}).encode()
    response = await api.client.post("/api/v1/tasks", data=body, headers=headers)
    answer = await response.json()
    assert response.status == 415
    assert answer["code"] == 415
    assert "application/json" in answer["message"]
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 0


async def test_a_garbage_cursor_says_what_to_send(api: Api) -> None:
    status, body = await get_json(api, "/api/v1/tasks?cursor=garbage")
    assert status == 422
    assert body["errors"][0]["loc"] == "cursor"
    assert "next_cursor" in body["errors"][0]["msg"]
    assert "padding" not in json.dumps(body)


async def test_a_garbage_bearer_token_is_called_malformed(api: Api) -> None:
    token = "\u00b7\u00b7\u00b7.x.y"
    response = await api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    body = await response.json()
    assert response.status == 401
    assert body["message"].startswith("malformed token")
    assert "codec" not in body["message"]


@pytest.mark.parametrize(
    ("changes", "loc"),
    [({"cron": "61 * * * *"}, "cron"), ({"timezone": "Mars/Olympus"}, "timezone")],
)
async def test_cron_and_time_zone_errors_point_at_their_field(
    api: Api, changes: dict[str, str], loc: str
) -> None:
    body = {"id": "nightly", "cron": "0 3 * * *", "task": {"type": "demo.echo"}, **changes}
    response = await api.client.post(
        "/api/v1/schedules", json=body, headers=auth(scope="schedules:write")
    )
    answer = await response.json()
    assert response.status == 422
    assert [error["loc"] for error in answer["errors"]] == [loc]


async def test_every_accept_has_the_same_message(api: Api) -> None:
    posted = await api.client.post(
        "/api/v1/tasks", json={"type": "demo.echo", "delay": 60}, headers=auth()
    )
    task_id = (await posted.json())["data"]["id"]
    put = await api.client.put(f"/api/v1/tasks/{task_id}", json={"delay": 90}, headers=auth())
    deleted = await api.client.delete(f"/api/v1/tasks/{task_id}", headers=auth())
    messages = {(await answer.json())["message"] for answer in (posted, put, deleted)}
    assert [posted.status, put.status, deleted.status] == [202, 202, 202]
    assert messages == {"Accepted"}


async def _dead(api: Api, queue: str) -> None:
    env = new_envelope("demo.echo", {}, queue, subject="alice")
    fields = dead_fields(env.to_fields(), DeadReason.EXHAUSTED, "boom", 3, now_ms(), "1-0")
    await api.redis.xadd(api.keys.queue(queue).dead, fields)  # type: ignore[arg-type]


async def test_purging_dead_letters_names_a_queue_or_says_all(api: Api) -> None:
    await _dead(api, "default")
    await _dead(api, "other")
    bare = await api.client.delete("/api/v1/dead-letters", headers=auth(ADMIN))
    answer = await bare.json()
    assert bare.status == 422
    assert answer["errors"][0]["loc"] == "queue"
    assert "all=true" in answer["errors"][0]["msg"]
    assert await api.redis.xlen(api.keys.queue("default").dead) == 1
    both = await api.client.delete("/api/v1/dead-letters?queue=other&all=true", headers=auth(ADMIN))
    assert both.status == 422
    one = await api.client.delete("/api/v1/dead-letters?queue=other", headers=auth(ADMIN))
    assert (one.status, (await one.json())["data"]) == (200, {"deleted": 1})
    await _dead(api, "other")
    every = await api.client.delete("/api/v1/dead-letters?all=true", headers=auth(ADMIN))
    assert (every.status, (await every.json())["data"]) == (200, {"deleted": 2})
    assert await api.redis.xlen(api.keys.queue("default").dead) == 0


async def test_the_docs_page_loads_only_local_assets_and_they_are_served(api: Api) -> None:
    page = await api.client.get("/api/v1/docs")
    html = await page.text()
    assert page.status == 200
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert references
    for reference in references:
        assert re.match(r"^/[^/]", reference), reference  # this host, this scheme
        asset = await api.client.get(reference)
        assert asset.status == 200, reference
        assert len(await asset.read()) > 100_000 or reference.endswith(".json")
    assert 'spec-url="/api/v1/openapi.json"' in html
    assert "http" not in html


async def test_malformed_json_says_where_it_breaks(api: Api) -> None:
    headers = {**auth(), **JSON}
    response = await api.client.post("/api/v1/tasks", data=b'{"type": }', headers=headers)
    body = await response.json()
    assert response.status == 400
    assert body["errors"][0]["loc"] == "body"
    assert "column" in body["errors"][0]["msg"]
