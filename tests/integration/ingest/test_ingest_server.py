"""The HTTP server below the app: requests aiohttp cannot parse, clients that hang up."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.server import ApiRunner
from integration.ingest.ingest_support import ingest_settings, make_token
from waiting import wait_for


@pytest.fixture
async def port(redis_settings: RedisSettings) -> AsyncIterator[int]:
    """The app served by ApiRunner (as __main__ serves it) on a loopback port."""
    runner = ApiRunner(create_app(ingest_settings(), redis_settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes; the answer's status, headers (lower-case names) and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    ("header", "words"),
    [(b"X-Bad: a\x01b", "malformed HTTP request"), (b"X-Long: " + b"a" * 9000, "too long")],
)
async def test_a_request_aiohttp_cannot_parse_gets_an_envelope(
    port: int, header: bytes, words: str
) -> None:
    request = b"GET /livez HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
    with capture_logs() as logs:
        status, headers, body = await _exchange(port, request)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert body["code"] == 400
    assert words in body["message"]
    assert body["data"] is None
    assert [line["event"] for line in logs] == ["request_unparsable"]


async def test_a_client_hanging_up_mid_body_logs_one_line(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token(scope="tasks:write")
    head = (
        "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 5000\r\n\r\n"
    ).encode()
    with capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b'{"type": "demo.echo", "payload": "')
        await writer.drain()
        writer.close()
        await writer.wait_closed()

        def audited() -> bool:
            return any(line["event"] == "request_handled" for line in logs)

        await wait_for(audited, within=30, what="the request's audit line")
    assert [line["event"] for line in logs] == ["client_disconnected", "request_handled"]
    assert logs[1]["status"] == 499
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    del reader
