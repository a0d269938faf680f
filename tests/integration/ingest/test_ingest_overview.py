"""GET /api/v1/stream/overview: live figures for dashboards, one computation for all of them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from conveyor.pausing import pause_queue
from conveyor_ingest.overview import OVERVIEW
from integration.ingest.ingest_support import Api, auth
from waiting import wait_for


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Pushes every 0.1 s; a stream lasts at most 5 s."""
    return {"overview_interval": 0.1, "max_wait": 5.0}


async def next_event(response: ClientResponse) -> tuple[str, dict[str, Any]]:
    """The next server-sent event: (event name, decoded data)."""
    name, data = "", ""
    while True:
        line = (await response.content.readline()).decode()
        assert line, "the stream ended"
        if line == "\n":
            return name, json.loads(data)
        field, _, value = line.rstrip("\n").partition(": ")
        if field == "event":
            name = value
        elif field == "data":
            data += value


async def test_every_dashboard_gets_the_same_overview_from_one_computation(api: Api) -> None:
    await pause_queue(api.redis, api.keys, "other", "ops", 1)
    app = api.client.app
    assert app is not None
    hub = app[OVERVIEW]
    streams = [
        await api.client.get("/api/v1/stream/overview", headers=auth(scope="admin"))
        for _ in range(3)
    ]
    assert all(s.status == 200 for s in streams)
    assert streams[0].headers["Content-Type"] == "text/event-stream"
    first = [await next_event(s) for s in streams]
    before = hub.computations
    for _ in range(5):
        for stream in streams:
            name, data = await next_event(stream)
            assert name == "overview"
    # 15 events were delivered; one computation served all three streams each time.
    assert hub.computations - before <= 6
    name, data = first[0]
    assert name == "overview"
    paused = {q["queue"]: q["paused"] for q in data["queues"]["items"]}
    assert paused == {"default": False, "other": True}
    assert data["workers"] == {"items": []}
    for stream in streams:
        stream.close()


async def test_the_stream_needs_an_admin_token(api: Api) -> None:
    refused = await api.client.get("/api/v1/stream/overview", headers=auth())
    assert refused.status == 403
    anonymous = await api.client.get("/api/v1/stream/overview")
    assert anonymous.status == 401


async def test_the_dashboard_page_is_static_public_and_locked_to_its_own_origin(api: Api) -> None:
    """/dashboard and its two assets need no token; the CSP allows only this origin."""
    page = await api.client.get("/dashboard")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = await page.text()
    assert '<script src="/dashboard/dashboard.js"></script>' in html
    assert "http://" not in html
    assert "https://" not in html
    for asset, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        answer = await api.client.get(f"/dashboard/{asset}")
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith(kind)
        text = await answer.text()
        assert "innerHTML" not in text.replace("never innerHTML", "")
        assert "https://" not in text


async def test_a_dashboard_that_goes_away_is_dropped_and_the_computing_stops(api: Api) -> None:
    """The handler notices the closed connection at its next write; with no one left the
    hub stops computing."""
    app = api.client.app
    assert app is not None
    hub = app[OVERVIEW]
    stream = await api.client.get("/api/v1/stream/overview", headers=auth(scope="admin"))
    await next_event(stream)
    assert hub.subscribers == 1
    stream.close()
    await wait_for(lambda: hub.subscribers == 0, what="the closed stream unsubscribed")
    stopped = hub.computations
    await wait_for(lambda: hub.idle, what="the hub stopped computing")
    assert hub.computations <= stopped + 1
