"""Client rate limits by tier and subject, changed at run time through /api/v1/limits:
every ingest replica applies a change within a second; every change is audited."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from integration.ingest.ingest_support import Api, StrictJsonResponse, auth, ingest_settings
from waiting import wait_for

ADMIN = {"scope": "admin", "sub": "ops"}


def whole(document: dict[str, Any]) -> dict[str, Any]:
    """A document as stored and shown: every section present."""
    return {"tiers": {}, "subjects": {}, "task_types": {}, **document}


@pytest.fixture
async def second(redis_settings: RedisSettings) -> AsyncIterator[TestClient[Any, Any]]:
    """Another ingest replica on the same Redis."""
    app = create_app(ingest_settings(), redis_settings)
    async with TestClient(TestServer(app), response_class=StrictJsonResponse) as client:
        yield client


async def _post(client: TestClient[Any, Any], **claims: Any) -> int:
    response = await client.post(
        "/api/v1/tasks", json={"type": "demo.echo"}, headers=auth(**claims)
    )
    return response.status


async def test_a_tier_change_through_one_replica_holds_on_another_within_a_second(
    api: Api, second: TestClient[Any, Any]
) -> None:
    assert await _post(second, sub="m1", tier="mobile") == 202  # the default: 1000/s
    body = {
        "tiers": {"mobile": {"rate": 1, "burst": 1}},
        "subjects": {"vip": {"rate": 1000, "burst": 1000}},
    }
    response = await api.client.put("/api/v1/limits", json=body, headers=auth(**ADMIN))
    assert response.status == 200
    changed = time.monotonic()

    async def limited() -> bool:
        return await _post(second, sub="m2", tier="mobile") == 429

    await wait_for(limited, within=1.0, interval=0.02, what="the new tier rate on the second app")
    assert time.monotonic() - changed < 1.0
    # Other tiers keep the static default; a subject override wins over its tier.
    assert [await _post(second, sub="w1", tier="web") for _ in range(3)] == [202] * 3
    assert [await _post(second, sub="vip", tier="mobile") for _ in range(3)] == [202] * 3


async def test_every_change_is_audited_with_who_before_and_after(api: Api) -> None:
    first = {"tiers": {"partner": {"rate": 200, "burst": 200}}}
    second = {"task_types": {"email.send": {"rate": 100, "concurrency": 5}}}
    with capture_logs() as logs:
        for body in (first, second):
            response = await api.client.put("/api/v1/limits", json=body, headers=auth(**ADMIN))
            assert response.status == 200
    changed = [entry for entry in logs if entry["event"] == "limits_changed"]
    assert [(e["by"], e["version"], e["after"]) for e in changed] == [
        ("ops", 1, whole(first)),
        ("ops", 2, whole(second)),
    ]
    assert (changed[0]["before"], changed[1]["before"]) == ({}, whole(first))
    shown = await (await api.client.get("/api/v1/limits", headers=auth(**ADMIN))).json()
    assert (shown["data"]["version"], shown["data"]["limits"]) == (2, whole(second))
    assert shown["data"]["changed_by"] == "ops"
    history = await (
        await api.client.get("/api/v1/limits/history?limit=5", headers=auth(**ADMIN))
    ).json()
    items = history["data"]["items"]
    assert [(i["version"], i["changed_by"]) for i in items] == [(2, "ops"), (1, "ops")]
    assert items[0]["before"]["tiers"] == first["tiers"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"tiers": {"mobile": {"rate": 0, "burst": 1}}}, "rate"),
        ({"tiers": {"mobile": {"rate": 5}}}, "burst"),
        ({"task_types": {"email.send": {"concurrency": 0}}}, "concurrency"),
        ({"task_types": {"bad type!": {"rate": 1}}}, "task_types"),
        ({"tier": {}}, "tier"),
    ],
)
async def test_a_bad_document_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], where: str
) -> None:
    response = await api.client.put("/api/v1/limits", json=body, headers=auth(**ADMIN))
    assert response.status == 422
    answer = await response.json()
    assert any(where in error["loc"] for error in answer["errors"]), answer


async def test_only_admins_see_or_change_the_limits(api: Api) -> None:
    for method in ("get", "put"):
        response = await api.client.request(
            method, "/api/v1/limits", json={}, headers=auth(scope="tasks:write tasks:read")
        )
        assert response.status == 403
