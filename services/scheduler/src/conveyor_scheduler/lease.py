"""The fire lease: lets one replica fire cron instants on time while the others stand by.

Correctness does not depend on it (the fire script's dedup key does that); it
only saves the other replicas from building and sending every fire only to find
it made. A replica that does not hold the lease fires just the instants left
``lease_ms`` overdue, which is what happens when the holder died: its lease
runs out after ``lease_ms`` and a survivor takes it. Expiry is judged on the
scheduling clock passed in (Redis server time in the service, injected in tests).
"""

from __future__ import annotations

from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.lua import register


class FireLease:
    """Takes and renews ``Keys.schedule_lease`` for one replica."""

    def __init__(self, client: Redis, keys: Keys, holder: str, lease_ms: int) -> None:
        self._key = keys.schedule_lease
        self._holder = holder
        self.lease_ms = lease_ms
        self._script = register(client, "scheduler_lease")

    async def hold(self, now_ms: int) -> bool:
        """True if this replica holds the lease at ``now_ms`` (taking or renewing it)."""
        if self.lease_ms == 0:
            return True  # leases disabled: every replica fires on time
        held = await self._script(keys=[self._key], args=[self._holder, now_ms, self.lease_ms])
        return bool(held)

    @property
    def standby_delay_ms(self) -> int:
        """How overdue an instant must be before a replica without the lease fires it."""
        return self.lease_ms
