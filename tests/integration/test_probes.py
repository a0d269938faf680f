"""The probes server answers /metrics, /livez and /readyz over real HTTP."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter

from conveyor.telemetry.probes import ProbeServer


async def _request(port: int, line: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{line}\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    head, _, body = response.partition("\r\n\r\n")
    return head.splitlines()[0], body


async def test_probe_paths_answer_with_the_right_status() -> None:
    registry = CollectorRegistry()
    Counter("conveyor_test_things", "Things.", registry=registry).inc(3)
    ready: dict[str, bool | None] = {"value": True}

    async def check() -> bool:
        if ready["value"] is None:
            raise ConnectionError
        return bool(ready["value"])

    server = ProbeServer(registry, check, host="127.0.0.1")
    port = await server.start(0)
    try:
        assert port > 0
        status, body = await _request(port, "GET /metrics HTTP/1.1")
        assert status == "HTTP/1.1 200 OK"
        assert "conveyor_test_things_total 3.0" in body
        assert (await _request(port, "GET /livez HTTP/1.1"))[0] == "HTTP/1.1 200 OK"
        assert (await _request(port, "GET /readyz HTTP/1.1"))[0] == "HTTP/1.1 200 OK"
        ready["value"] = False
        assert (await _request(port, "GET /readyz HTTP/1.1"))[0].startswith("HTTP/1.1 503")
        ready["value"] = None
        assert (await _request(port, "GET /readyz HTTP/1.1"))[0].startswith("HTTP/1.1 503")
        assert (await _request(port, "GET /nope HTTP/1.1"))[0].startswith("HTTP/1.1 404")
        assert (await _request(port, "POST /metrics HTTP/1.1"))[0].startswith("HTTP/1.1 405")
    finally:
        await server.stop()
