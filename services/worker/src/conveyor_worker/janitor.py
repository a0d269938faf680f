"""The janitor: removes empty idle consumers and trims streams below every group's ack floor."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

from conveyor.keys import QueueKeys
from conveyor.lua import register

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class JanitorReport:
    """What one pass did; ``ran`` is False when another worker held the lease."""

    ran: bool
    consumers_deleted: int = 0
    entries_trimmed: int = 0


class Janitor:
    """One queue's janitor; a lease makes one worker process at a time do the work."""

    def __init__(
        self, client: Redis, keys: QueueKeys, holder: str, lease_ms: int, consumer_idle_ms: int
    ) -> None:
        self._client = client
        self._keys = keys
        self._holder = holder
        self._lease_ms = lease_ms
        self._idle_ms = consumer_idle_ms
        self._script = register(client, "worker_janitor")

    async def run_once(self) -> JanitorReport:
        """One pass over the task streams of every priority level, control and events."""
        qk = self._keys
        keys = [qk.janitor_lease, *qk.level_streams, qk.control, qk.events]
        args = [self._holder, str(self._lease_ms), str(self._idle_ms)]
        reply = await self._script(keys=keys, args=args, client=self._client)
        if reply == -1:
            return JanitorReport(ran=False)
        report = JanitorReport(True, int(reply[0]), int(reply[1]))
        if report.consumers_deleted or report.entries_trimmed:
            log.info(
                "janitor_ran",
                queue=self._keys.queue,
                consumers_deleted=report.consumers_deleted,
                entries_trimmed=report.entries_trimmed,
            )
        return report
