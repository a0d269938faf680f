"""The error middleware: what a handler raises leaves as an envelope, or passes through."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from integration.ingest.ingest_support import ingest_settings


async def _boom(_request: web.Request) -> web.Response:
    msg = "handler bug"
    raise RuntimeError(msg)


async def _moved(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/api/v1/openapi.json")


async def test_an_unexpected_exception_is_a_logged_500_envelope_and_redirects_pass(
    redis_settings: RedisSettings,
) -> None:
    app = create_app(ingest_settings(), redis_settings, consume=False)
    app.router.add_get("/boom", _boom)
    app.router.add_get("/moved", _moved)
    async with TestClient(TestServer(app)) as client:
        with capture_logs() as logs:
            response = await client.get("/boom", headers={"X-Request-ID": "r-500"})
            body = await response.json()
        moved = await client.get("/moved", allow_redirects=False)
    assert response.status == 500
    assert body == {"code": 500, "message": "internal error", "data": None}
    assert response.headers["X-Request-ID"] == "r-500"
    failed = [line for line in logs if line["event"] == "request_failed"]
    assert len(failed) == 1
    assert isinstance(failed[0]["exc_info"], RuntimeError)
    audit = [line for line in logs if line["event"] == "request_handled"]
    assert [(line["request_id"], line["status"]) for line in audit] == [("r-500", 500)]
    assert moved.status == 302
    assert moved.headers["Location"] == "/api/v1/openapi.json"
