"""A small HTTP server for /metrics, /livez and /readyz (worker and scheduler).

The worker and scheduler have no web framework; this answers the three GETs
Prometheus and Kubernetes send, and nothing else. Port 0 picks a free port,
which is logged, so several replicas can share a host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = structlog.get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
_REQUEST_TIMEOUT = 5.0


class ProbeServer:
    """Serves a registry's metrics plus liveness and readiness on one port."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: ReadinessCheck,
        host: str = "0.0.0.0",  # noqa: S104 - probes must be reachable from the kubelet
    ) -> None:
        self._registry = registry
        self._ready = ready
        self._host = host
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int) -> int:
        """Listen on ``port`` (0: a free one) and return the port actually bound."""
        self._server = await asyncio.start_server(self._handle, self._host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("probe_server_started", port=self.port, paths=["/metrics", "/livez", "/readyz"])
        return self.port

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                request = await reader.readuntil(b"\r\n\r\n")
                status, content_type, body = await self._respond(request.split(b" ", 2))
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that hangs up or sends garbage gets nothing
        finally:
            writer.close()

    async def _respond(self, parts: list[bytes]) -> tuple[str, str, bytes]:
        if len(parts) < 2 or parts[0] != b"GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        path = parts[1].split(b"?", 1)[0]
        if path == b"/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if path == b"/livez":
            return "200 OK", "text/plain", b"ok\n"
        if path == b"/readyz":
            ready = await self._check_ready()
            return (
                ("200 OK", "text/plain", b"ready\n")
                if ready
                else ("503 Service Unavailable", "text/plain", b"not ready\n")
            )
        return "404 Not Found", "text/plain", b"not found\n"

    async def _check_ready(self) -> bool:
        try:
            return await self._ready()
        except Exception:  # any failure of the check means "not ready"
            log.warning("readiness_check_failed", exc_info=True)
            return False
