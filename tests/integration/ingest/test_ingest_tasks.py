"""POST/GET /api/v1/tasks against a real server: writes, validation, visibility, listing."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor.envelope import decode_envelope
from conveyor.timers import decode_timer
from conveyor_ingest import readmodel
from integration.ingest.ingest_support import (
    Api,
    auth,
    entries,
    get_json,
    make_token,
    post_task,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_post_task_answers_202_and_writes_the_stream_and_the_read_model(api: Api) -> None:
    status, body = await post_task(
        api, {"type": "demo.echo", "payload": {"n": 1}}, traceparent=TRACEPARENT
    )
    assert status == 202, body
    assert body["code"] == 202
    assert body["data"]["status"] == "pending"
    assert body["data"]["queue"] == "default"
    task_id = body["data"]["id"]
    written = await entries(api.redis, api.keys.queue("default").tasks)
    assert len(written) == 1
    envelope = decode_envelope(written[0][0], written[0][1], "default")
    assert envelope.id == task_id
    assert envelope.payload == {"n": 1}
    assert (envelope.subject, envelope.origin) == ("alice", "api")
    # The client's trace continues: same trace id (the span id is ingest's producer
    # span when an SDK provider is installed, the client's own otherwise).
    assert envelope.traceparent.split("-")[1] == TRACEPARENT.split("-")[1]
    status, got = await get_json(api, f"/api/v1/tasks/{task_id}")
    assert status == 200
    view = got["data"]
    assert (view["status"], view["type"], view["attempts"]) == ("pending", "demo.echo", 0)
    assert view["created_at"].endswith("Z")


async def test_delayed_task_goes_to_the_timer_stream_as_scheduled(api: Api) -> None:
    status, body = await post_task(
        api, {"type": "demo.echo", "payload": 1, "delay": 60, "queue": "other"}
    )
    assert status == 202, body
    assert body["data"]["status"] == "scheduled"
    assert await api.redis.xlen(api.keys.queue("other").tasks) == 0
    written = await entries(api.redis, api.keys.queue("other").timers_in)
    timer = decode_timer(written[0][0], written[0][1], "other")
    assert timer.envelope.id == body["data"]["id"]
    assert timer.due_ms > datetime.now(UTC).timestamp() * 1000 + 50_000


async def test_run_at_in_the_past_runs_now(api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    status, body = await post_task(api, {"type": "demo.echo", "run_at": past})
    assert status == 202, body
    assert body["data"]["status"] == "pending"


async def test_unknown_fields_and_wrong_types_get_422_listing_each_field(api: Api) -> None:
    status, body = await post_task(api, {"type": 5, "payload": 1, "colour": "red", "timeout": -1})
    assert status == 422
    assert body["code"] == 422
    assert body["data"] is None
    locs = {error["loc"] for error in body["errors"]}
    assert {"type", "colour", "timeout"} <= locs
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 0


async def test_unconfigured_queue_gets_422(api: Api) -> None:
    status, body = await post_task(api, {"type": "demo.echo", "queue": "nope"})
    assert status == 422
    # The field error says what to fix: the queue given and the ones configured.
    assert body["errors"] == [
        {"loc": "queue", "msg": "unknown queue 'nope'; configured: default, other"}
    ]


async def test_delay_and_run_at_together_or_too_long_get_422(api: Api) -> None:
    both = {"type": "demo.echo", "delay": 1, "run_at": "2030-01-01T00:00:00Z"}
    assert (await post_task(api, both))[0] == 422
    too_long = {"type": "demo.echo", "delay": api.settings.max_delay + 10}
    assert (await post_task(api, too_long))[0] == 422
    naive = {"type": "demo.echo", "run_at": "2030-01-01T00:00:00"}
    assert (await post_task(api, naive))[0] == 422


async def test_malformed_json_gets_400_envelope(api: Api) -> None:
    headers = {**auth(), "Content-Type": "application/json"}
    response = await api.client.post("/api/v1/tasks", data=b"{not json", headers=headers)
    body = await response.json()
    assert response.status == 400
    assert body["code"] == 400
    assert "JSON" in body["message"]


async def test_oversized_body_gets_413(api: Api) -> None:
    big = b'{"type": "demo.echo", "payload": "' + b"x" * (api.settings.max_body_bytes + 1) + b'"}'
    headers = {**auth(), "Content-Type": "application/json"}
    response = await api.client.post("/api/v1/tasks", data=io.BytesIO(big), headers=headers)
    assert response.status == 413
    assert (await response.json())["code"] == 413


class TestSmallBodyLimit:
    """Bodies that arrive whole (read from aiohttp's buffer) are held to the limit too."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_body_bytes": 1024}

    @pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/events"])
    async def test_a_whole_body_over_the_limit_gets_413_and_enqueues_nothing(
        self, api: Api, path: str
    ) -> None:
        over = b'{"type": "demo.echo", "payload": "' + b"x" * 1024 + b'"}'
        headers = {**auth(), "Content-Type": "application/json"}
        response = await api.client.post(path, data=over, headers=headers)
        body = await response.json()
        assert response.status == 413
        assert body["message"] == "request body exceeds 1024 bytes"
        assert await api.redis.xlen(api.keys.queue("default").tasks) == 0

    async def test_a_body_at_the_limit_is_accepted(self, api: Api) -> None:
        head, tail = b'{"type": "demo.echo", "payload": "', b'"}'
        exact = head + b"x" * (1024 - len(head) - len(tail)) + tail
        headers = {**auth(), "Content-Type": "application/json"}
        response = await api.client.post("/api/v1/tasks", data=exact, headers=headers)
        assert len(exact) == 1024
        assert response.status == 202


async def test_unknown_route_and_task_get_404_envelopes(api: Api) -> None:
    status, body = await get_json(api, "/api/v1/nothing-here")
    assert (status, body["code"]) == (404, 404)
    status, body = await get_json(api, "/api/v1/tasks/0190aaaa-0000-7000-8000-000000000000")
    assert status == 404


async def test_request_id_is_echoed_or_made(api: Api) -> None:
    response = await api.client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await api.client.get("/livez")
    assert len(response.headers["X-Request-ID"]) == 32


async def test_clients_see_only_their_own_tasks_unless_admin(api: Api) -> None:
    _, body = await post_task(api, {"type": "demo.echo"})
    path = f"/api/v1/tasks/{body['data']['id']}"
    bob = make_token(sub="bob")
    assert (await get_json(api, path, bob))[0] == 404
    admin = make_token(sub="root", scope="admin")
    assert (await get_json(api, path, admin))[0] == 200
    _, listing = await get_json(api, "/api/v1/tasks", bob)
    assert listing["data"]["items"] == []


async def test_listing_filters_and_pages_with_a_cursor(api: Api) -> None:
    ids = []
    for n in range(5):
        _, body = await post_task(api, {"type": "demo.echo", "payload": n})
        ids.append(body["data"]["id"])
    await post_task(api, {"type": "demo.other", "queue": "other"})
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        path = "/api/v1/tasks?type=demo.echo&limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, body = await get_json(api, path)
        assert status == 200, body
        seen += [item["id"] for item in body["data"]["items"]]
        cursor = body["data"]["next_cursor"]
        if cursor is None:
            break
    # Newest first in index order: (accept ms, id), so two tasks of one ms by id.
    index: Any = await api.redis.zrevrangebylex(api.keys.queue("default").status_index, "+", "-")
    assert seen == [member.decode().split(":", 1)[1] for member in index]
    assert sorted(seen) == sorted(ids)
    _, other = await get_json(api, "/api/v1/tasks?queue=other&status=pending")
    assert [item["type"] for item in other["data"]["items"]] == ["demo.other"]


async def test_listing_rejects_bad_parameters(api: Api) -> None:
    status, body = await get_json(api, "/api/v1/tasks?limit=0")
    assert status == 422
    assert body["errors"] == [{"loc": "limit", "msg": "Input should be greater than or equal to 1"}]
    assert (await get_json(api, "/api/v1/tasks?limit=501"))[0] == 422
    assert (await get_json(api, "/api/v1/tasks?status=weird"))[0] == 422
    assert (await get_json(api, "/api/v1/tasks?cursor=@@@"))[0] == 422
    assert (await get_json(api, "/api/v1/tasks?queue=nope"))[0] == 422


async def test_scripts_are_reloaded_after_a_script_flush(api: Api) -> None:
    assert (await post_task(api, {"type": "demo.echo"}))[0] == 202
    await api.redis.script_flush()
    status, body = await post_task(api, {"type": "demo.echo"})
    assert status == 202, body
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 2


async def test_ids_with_hash_tag_braces_are_simply_not_found(api: Api) -> None:
    for method in ("GET", "DELETE"):
        response = await api.client.request(method, "/api/v1/tasks/a%7Bb%7D", headers=auth())
        assert response.status == 404


async def _listed(api: Api, query: str) -> tuple[list[str], int]:
    """Every id a listing returns, following its cursors; and how many pages it took."""
    seen: list[str] = []
    cursor = None
    for pages in range(1, 50):
        status, body = await get_json(api, query + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        seen += [item["id"] for item in body["data"]["items"]]
        cursor = body["data"]["next_cursor"]
        if cursor is None:
            return seen, pages
    msg = f"{query}: no last page"
    raise AssertionError(msg)


async def _old_and_new(api: Api, wanted: int, skipped: int) -> list[str]:
    """``wanted`` tasks of type demo.want, then ``skipped`` newer ones of another type."""
    batch = {"tasks": [{"type": "demo.want", "payload": n} for n in range(wanted)]}
    response = await api.client.post("/api/v1/tasks/batch", json=batch, headers=auth())
    assert response.status == 202, await response.text()
    ids = [item["id"] for item in (await response.json())["data"]["items"]]
    batch = {"tasks": [{"type": "demo.skip", "payload": n} for n in range(skipped)]}
    response = await api.client.post("/api/v1/tasks/batch", json=batch, headers=auth())
    assert response.status == 202, await response.text()
    return ids


async def test_a_listing_page_is_full_when_the_filter_skips_most_entries(api: Api) -> None:
    wanted = await _old_and_new(api, 3, 60)
    # One window is limit x 5 = 15 entries, all of the other type: the walk goes on.
    status, body = await get_json(api, "/api/v1/tasks?type=demo.want&limit=3")
    assert status == 200, body
    assert sorted(item["id"] for item in body["data"]["items"]) == sorted(wanted)
    seen, _ = await _listed(api, "/api/v1/tasks?type=demo.want&limit=3")
    assert sorted(seen) == sorted(wanted)


async def test_a_listing_past_its_scan_budget_returns_a_short_page_with_a_cursor(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readmodel, "SCAN_BUDGET", 10)
    wanted = await _old_and_new(api, 3, 40)
    status, body = await get_json(api, "/api/v1/tasks?type=demo.want&limit=2")
    assert status == 200, body
    assert (body["data"]["items"], body["data"]["next_cursor"] is None) == ([], False)
    seen, pages = await _listed(api, "/api/v1/tasks?type=demo.want&limit=2")
    assert sorted(seen) == sorted(wanted)
    assert pages >= 4  # 43 entries, at most 10 looked at per request
