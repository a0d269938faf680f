"""A small HTTP server for /metrics, /livez and /readyz (worker and scheduler).

The worker and scheduler have no web framework; this answers the three GETs
Prometheus and Kubernetes send, and nothing else. Port 0 picks a free port,
which is logged, so several replicas can share a host.

``/livez`` never touches Redis: a Redis blip must not restart every pod.
``/readyz`` answers within ``READY_TIMEOUT_S`` whatever Redis does: a check that
has not finished by then answers 503 with the reason (ingest's /readyz uses the
same bound through ``readiness_problems``). The bound is well under the 3 s
probe timeouts of deploy/k8s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.asyncio import Redis

log = structlog.get_logger(__name__)

# A readiness check answers the problems it found; none means ready.
ReadinessCheck = Callable[[], Awaitable[list[str]]]
_REQUEST_TIMEOUT = 5.0
READY_TIMEOUT_S = 1.0


async def readiness_problems(check: ReadinessCheck) -> list[str]:
    """``check``'s problems, or the reason it failed or took longer than READY_TIMEOUT_S."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            return await check()
    except TimeoutError:
        return [f"redis did not answer within {READY_TIMEOUT_S} s"]
    except Exception as exc:  # any failure of the check means "not ready", with its reason
        log.warning("readiness_check_failed", error=type(exc).__name__, detail=str(exc)[:200])
        return [f"readiness check failed: {type(exc).__name__}: {str(exc)[:200]}"]


def redis_readiness(client: Redis, *more: Callable[[], list[str]]) -> ReadinessCheck:
    """A check that Redis answers PING, plus the problems the ``more`` callables report."""

    async def check() -> list[str]:
        problems = [problem for report in more for problem in report()]
        await client.ping()
        return problems

    return check


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
            problems = await readiness_problems(self._ready)
            if not problems:
                return "200 OK", "text/plain", b"ready\n"
            body = "".join(f"not ready: {problem}\n" for problem in problems)
            return "503 Service Unavailable", "text/plain", body.encode()
        return "404 Not Found", "text/plain", b"not found\n"
