"""CloudEvents, dead letters, schedules, queues, probes, metrics and the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

from conveyor.deadletter import DeadReason, dead_fields
from conveyor.envelope import decode_envelope, new_envelope
from conveyor.keys import event_scope
from conveyor.schedules import ChangeOp, ScheduleDefinition, change_fields, decode_change
from conveyor_ingest.store import now_ms
from integration.ingest.ingest_support import Api, auth, entries, get_json, make_token, until

ADMIN = make_token(sub="root", scope="admin")
SCHEDULE = {
    "id": "nightly",
    "cron": "0 30 2 * * *",
    "timezone": "Europe/Paris",
    "task": {"type": "report.build", "payload": {"kind": "daily"}, "queue": "default"},
    "misfire": "skip",
}


async def test_structured_cloudevent_becomes_a_task(api: Api) -> None:
    event = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.created",
             "data": {"order": 5}}  # fmt: skip
    response = await api.client.post(
        "/api/v1/events",
        data=json.dumps(event),
        headers={**auth(), "Content-Type": "application/cloudevents+json"},
    )
    assert response.status == 202, await response.text()
    written = await entries(api.redis, api.keys.queue("default").tasks)
    env = decode_envelope(written[0][0], written[0][1], "default")
    assert (env.type, env.payload, env.source) == ("order.created", {"order": 5}, "/shop")
    assert env.origin == "cloudevents"
    assert env.idempotency_key == event_scope("/shop", "e-1") == ":event:/shop:e-1"


async def test_binary_cloudevent_becomes_a_task_and_bad_ones_get_4xx(api: Api) -> None:
    headers = {**auth(), "ce-specversion": "1.0", "ce-id": "e-2", "ce-source": "/crm",
               "ce-type": "lead.new", "ce-queue": "other",
               "Content-Type": "application/json"}  # fmt: skip
    response = await api.client.post("/api/v1/events", data=b'{"lead": 1}', headers=headers)
    assert response.status == 202, await response.text()
    assert await api.redis.xlen(api.keys.queue("other").tasks) == 1
    missing = {k: v for k, v in headers.items() if k != "ce-id"}
    response = await api.client.post("/api/v1/events", data=b"{}", headers=missing)
    assert response.status == 422
    wrong = {**headers, "ce-specversion": "0.3"}
    response = await api.client.post("/api/v1/events", data=b"{}", headers=wrong)
    assert response.status == 422


async def _dead_letter(api: Api, task_type: str = "demo.echo") -> tuple[str, str]:
    env = new_envelope(task_type, {"x": 1}, "default", subject="alice", max_attempts=3)
    fields = dead_fields(env.to_fields(), DeadReason.EXHAUSTED, "boom", 3, now_ms(), "1-0")
    entry = await api.redis.xadd(api.keys.queue("default").dead, fields)  # type: ignore[arg-type]
    return entry.decode() if isinstance(entry, bytes) else str(entry), env.id


async def test_dead_letters_list_show_replay_once_and_purge(api: Api) -> None:
    entry_id, task_id = await _dead_letter(api)
    status, body = await get_json(api, "/api/v1/dead-letters?queue=default", ADMIN)
    assert status == 200
    assert body["data"]["items"][0]["task_id"] == task_id
    assert body["data"]["items"][0]["reason"] == "exhausted"
    status, body = await get_json(api, f"/api/v1/dead-letters/default/{entry_id}", ADMIN)
    assert (status, body["data"]["error"]) == (200, "boom")
    path = f"/api/v1/dead-letters/default/{entry_id}/replay"
    first = await api.client.post(path, headers=auth(ADMIN))
    second = await api.client.post(path, headers=auth(ADMIN))
    assert first.status == second.status == 202
    replay = (await first.json())["data"]
    assert replay == (await second.json())["data"]
    assert replay["replay_of"] == task_id
    written = await entries(api.redis, api.keys.queue("default").tasks)
    assert len(written) == 1
    env = decode_envelope(written[0][0], written[0][1], "default")
    assert (env.origin, env.attempt, env.payload) == ("replay", 1, {"x": 1})
    status, view = await get_json(api, f"/api/v1/tasks/{replay['id']}", ADMIN)
    assert view["data"]["replay_of"] == task_id
    purge = await api.client.delete("/api/v1/dead-letters?queue=default", headers=auth(ADMIN))
    assert (await purge.json())["data"]["deleted"] == 1
    assert (await get_json(api, f"/api/v1/dead-letters/default/{entry_id}", ADMIN))[0] == 404


async def test_replay_by_filter_and_admin_only(api: Api) -> None:
    await _dead_letter(api, "a.one")
    await _dead_letter(api, "b.two")
    await _dead_letter(api, "a.one")
    response = await api.client.post(
        "/api/v1/dead-letters/replay", json={"type": "a.one"}, headers=auth(ADMIN)
    )
    assert response.status == 202
    assert len((await response.json())["data"]["replayed"]) == 2
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 2
    assert (await get_json(api, "/api/v1/dead-letters"))[0] == 403


async def test_schedule_create_publishes_a_change_and_lists_once_applied(api: Api) -> None:
    token = make_token(scope="schedules:write tasks:read")
    response = await api.client.post("/api/v1/schedules", json=SCHEDULE, headers=auth(token))
    body = await response.json()
    assert response.status == 202, body
    assert len(body["data"]["next_fires"]) == 5
    assert body["data"]["description"]
    written = await entries(api.redis, api.keys.schedule_changes)
    op, schedule_id, definition, _ = decode_change(written[0][1])
    assert (op, schedule_id) == (ChangeOp.UPSERT, "nightly")
    assert definition is not None
    # Play the scheduler: it applies the change and announces it.
    applied = change_fields(ChangeOp.UPSERT, "nightly", now_ms(), "api", definition)
    await api.redis.xadd(api.keys.schedule_applied, applied)  # type: ignore[arg-type]

    async def listed() -> Any:
        _, got = await get_json(api, "/api/v1/schedules", token)
        return got["data"]["items"]

    items = await until(listed, "schedule listed")
    assert items[0]["schedule"]["id"] == "nightly"
    assert (await get_json(api, "/api/v1/schedules/nightly", token))[0] == 200
    deleted = change_fields(ChangeOp.DELETE, "nightly", now_ms(), "api", None)
    await api.redis.xadd(api.keys.schedule_applied, deleted)  # type: ignore[arg-type]
    await until(lambda: _missing(api, token), "schedule removed")


async def _missing(api: Api, token: str) -> bool:
    return (await get_json(api, "/api/v1/schedules/nightly", token))[0] == 404


async def test_schedule_errors(api: Api) -> None:
    token = make_token(scope="schedules:write")
    bad = {**SCHEDULE, "cron": "0 0 31 2 *"}
    response = await api.client.post("/api/v1/schedules", json=bad, headers=auth(token))
    assert response.status == 422
    response = await api.client.put(
        "/api/v1/schedules/other-id", json=SCHEDULE, headers=auth(token)
    )
    assert response.status == 422
    response = await api.client.post("/api/v1/schedules", json=SCHEDULE, headers=auth())
    assert response.status == 403
    response = await api.client.delete("/api/v1/schedules/nightly", headers=auth(token))
    assert response.status == 404  # never created
    assert await entries(api.redis, api.keys.schedule_changes) == []


async def test_queue_figures(api: Api) -> None:
    await _dead_letter(api)
    qk = api.keys.queue("default")
    await api.redis.xgroup_create(qk.tasks, "workers", id="0", mkstream=True)
    await api.redis.xadd(qk.tasks, {"n": 1})
    await api.redis.xadd(qk.tasks, {"n": 2})
    await api.redis.xreadgroup("workers", "w1", {qk.tasks: ">"}, count=1)
    status, body = await get_json(api, "/api/v1/queues", ADMIN)
    assert status == 200
    default = body["data"]["items"][0]
    assert default["queue"] == "default"
    assert (default["depth"], default["pending"], default["lag"]) == (2, 1, 1)
    assert (default["consumers"], default["dead_letters"]) == (1, 1)
    assert default["oldest_pending_age_s"] >= 0


async def test_probes_metrics_and_openapi(api: Api) -> None:
    assert (await api.client.get("/livez")).status == 200
    ready = await api.client.get("/readyz")
    assert ready.status == 200, await ready.text()
    await api.client.post("/api/v1/tasks", json={"type": "demo.echo"}, headers=auth())
    metrics = await (await api.client.get("/metrics")).text()
    assert "conveyor_ingest_tasks_accepted_total" in metrics
    document: dict[str, Any] = await (await api.client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert "TaskRequest" in document["components"]["schemas"]
    assert "/api/v1/tasks/{task_id}" in document["paths"]
    assert (await api.client.get("/api/v1/docs")).status == 200
    ScheduleDefinition.model_validate(SCHEDULE)


async def test_metrics_count_every_answered_request_by_route_and_status(api: Api) -> None:
    """Requests are added to the metrics in bulk; a scrape sees every one answered before it."""
    for _ in range(3):
        await api.client.post("/api/v1/tasks", json={"type": "demo.echo"}, headers=auth())
    await api.client.post("/api/v1/tasks", json={"type": "demo.echo"})  # no token: 401
    text = await (await api.client.get("/metrics")).text()
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("conveyor_ingest_request")
    }
    route = 'route="/api/v1/tasks"'
    assert samples[f'conveyor_ingest_requests_total{{{route},status="202"}}'] == 3
    assert samples[f'conveyor_ingest_requests_total{{{route},status="401"}}'] == 1
    assert samples[f"conveyor_ingest_request_seconds_count{{{route}}}"] == 4
    assert samples[f'conveyor_ingest_request_seconds_bucket{{le="+Inf",{route}}}'] == 4
    assert samples[f"conveyor_ingest_request_seconds_sum{{{route}}}"] > 0
