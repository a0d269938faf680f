"""/api/v1/schedules semantics: POST creates (409 if it exists), PUT replaces an existing
schedule (404 otherwise, created_at_ms kept), DELETE of an unknown id is 404, and a
schedule that can never fire again is refused at its field, all checked atomically."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor.envelope import format_time
from conveyor.schedules import ChangeOp, ScheduleDefinition, change_fields, decode_change
from conveyor_ingest.store import now_ms
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from integration.ingest.ingest_support import Api, auth, entries, get_json, make_token, until

TOKEN = make_token(scope="schedules:write tasks:read")
SCHEDULE: dict[str, Any] = {
    "id": "nightly",
    "cron": "0 30 2 * * *",
    "task": {"type": "report.build", "payload": {"kind": "daily"}},
    "misfire": "skip",
}


async def send(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(
        method, "/api/v1/schedules" + path, json=body, headers=auth(TOKEN)
    )
    return response.status, await response.json()


async def changes(api: Api) -> list[tuple[ChangeOp, str, ScheduleDefinition | None]]:
    found = await entries(api.redis, api.keys.schedule_changes)
    return [decode_change(fields)[:3] for _, fields in found]


async def test_delete_and_put_of_an_unknown_schedule_are_404_and_publish_nothing(
    api: Api,
) -> None:
    status, body = await send(api, "DELETE", "/nightly")
    assert (status, body["data"]) == (404, None)
    status, _ = await send(api, "PUT", "/nightly", SCHEDULE)
    assert status == 404
    assert await changes(api) == []


async def test_post_creates_once_and_the_listing_shows_it_at_once(api: Api) -> None:
    status, body = await send(api, "POST", "", SCHEDULE)
    assert status == 202, body
    status, body = await send(api, "POST", "", {**SCHEDULE, "misfire": "catch_up"})
    assert status == 409
    assert "PUT" in body["message"]
    status, shown = await get_json(api, "/api/v1/schedules/nightly", TOKEN)
    assert (status, shown["data"]["schedule"]["misfire"]) == (200, "skip")
    assert [op for op, _, _ in await changes(api)] == [ChangeOp.UPSERT]


async def test_put_replaces_whole_but_keeps_created_at_ms_and_delete_removes(api: Api) -> None:
    status, created = await send(api, "POST", "", SCHEDULE)
    assert status == 202
    born = created["data"]["schedule"]["created_at_ms"]
    replacement = {**SCHEDULE, "cron": "0 0 3 * * *"}
    del replacement["misfire"]  # a full replace: omitted fields take their defaults
    status, replaced = await send(api, "PUT", "/nightly", replacement)
    assert status == 202, replaced
    schedule = replaced["data"]["schedule"]
    assert (schedule["created_at_ms"], schedule["misfire"]) == (born, "fire_once")
    _, _, published = (await changes(api))[-1]
    assert published is not None
    assert published.created_at_ms == born
    status, deleted = await send(api, "DELETE", "/nightly")
    assert (status, deleted["data"]) == (202, {"id": "nightly", "deleted": True})
    assert (await get_json(api, "/api/v1/schedules/nightly", TOKEN))[0] == 404
    assert (await send(api, "DELETE", "/nightly"))[0] == 404


@pytest.mark.parametrize(
    ("cron", "end_at", "loc"),
    [
        ("0 0 0 31 2 ?", None, "cron"),  # 31 February: never
        ("0 0 0 1 1 ? 2020-2024", None, "cron"),  # every year of it is past
        ("0 0 0 1 1 ? 2020-2099", "2099-12-31T00:00:00Z", None),  # fires: accepted
        ("0 0 0 1 1 ?", "soon", "end_at"),  # ends before its next instant
    ],
)
async def test_a_schedule_that_can_never_fire_again_is_refused_at_its_field(
    api: Api, cron: str, end_at: str | None, loc: str | None
) -> None:
    if end_at == "soon":
        end_at = format_time(datetime.now(UTC) + timedelta(seconds=1))
    status, body = await send(api, "POST", "", {**SCHEDULE, "cron": cron, "end_at": end_at})
    if loc is None:
        assert status == 202, body
        return
    assert status == 422
    ((error),) = body["errors"]
    assert error["loc"] == loc
    assert error["msg"].startswith("expression can never fire")
    assert await changes(api) == []


async def test_cron_and_zone_errors_point_at_their_field(api: Api) -> None:
    status, body = await send(api, "POST", "", {**SCHEDULE, "cron": "* * *"})
    assert (status, [e["loc"] for e in body["errors"]]) == (422, ["cron"])
    status, body = await send(api, "POST", "", {**SCHEDULE, "timezone": "Mars/Base"})
    assert (status, [e["loc"] for e in body["errors"]]) == (422, ["timezone"])


async def test_concurrent_creates_of_one_id_accept_exactly_one(api: Api) -> None:
    results = await asyncio.gather(*(send(api, "POST", "", SCHEDULE) for _ in range(8)))
    assert sorted(status for status, _ in results) == [202] + [409] * 7
    assert len(await changes(api)) == 1


async def test_an_older_applied_change_does_not_undo_a_newer_accepted_one(api: Api) -> None:
    await send(api, "POST", "", SCHEDULE)
    status, _ = await send(api, "DELETE", "/nightly")
    assert status == 202
    # The scheduler's copy of the create comes back after the delete was accepted.
    ((_, create),) = (await entries(api.redis, api.keys.schedule_changes))[:1]
    await api.redis.xadd(api.keys.schedule_applied, create)  # type: ignore[arg-type]
    other = ScheduleDefinition.model_validate({**SCHEDULE, "id": "marker"})
    marker = change_fields(ChangeOp.UPSERT, "marker", now_ms(), "file", other)
    await api.redis.xadd(api.keys.schedule_applied, marker)  # type: ignore[arg-type]
    await until(lambda: _listed(api, "marker"), "the file's schedule listed")
    assert not await _listed(api, "nightly")  # still deleted
    assert (await send(api, "PUT", "/nightly", SCHEDULE))[0] == 404


async def _listed(api: Api, schedule_id: str) -> bool:
    return (await get_json(api, f"/api/v1/schedules/{schedule_id}", TOKEN))[0] == 200


async def test_changes_go_through_the_scheduler_and_the_listing_follows(api: Api) -> None:
    scheduler = Scheduler(api.redis, api.keys, SchedulerSettings(consumer="s1"))
    await send(api, "POST", "", SCHEDULE)
    await send(api, "PUT", "/nightly", {**SCHEDULE, "cron": "0 0 4 * * *"})
    await scheduler.tick(time.time_ns() // 1_000_000)
    stored = await api.redis.hget(api.keys.schedule_store, "nightly")
    assert stored is not None
    assert ScheduleDefinition.model_validate_json(stored).cron == "0 0 4 * * *"

    async def settled() -> bool:
        return not await api.redis.exists(api.keys.schedule_pending)

    await until(settled, "the applied changes consumed")
    _, shown = await get_json(api, "/api/v1/schedules/nightly", TOKEN)
    assert shown["data"]["schedule"]["cron"] == "0 0 4 * * *"
