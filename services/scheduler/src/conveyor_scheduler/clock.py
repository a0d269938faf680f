"""Clocks the scheduler reads time from: Redis server time in production, a manual one in tests.

Every replica must agree on "now" to agree on which timers are due and which
cron instants are missed, so the running service asks the Redis server (one
clock for all replicas, immune to a replica's local clock jumping). Scheduling
logic never reads a clock itself: it receives ``now_ms`` from its caller.
"""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis

from conveyor.lua import register


class Clock(Protocol):
    """A source of the current time in Unix milliseconds."""

    async def now_ms(self) -> int:
        """The current time (Unix ms)."""
        ...


class RedisClock:
    """The Redis server's clock (TIME, via the shared ``server_time`` script)."""

    def __init__(self, client: Redis) -> None:
        self._script = register(client, "server_time")

    async def now_ms(self) -> int:
        """The server's current time (Unix ms)."""
        return int(await self._script())


class ManualClock:
    """A clock that moves only when told to: drives time in tests without sleeping."""

    def __init__(self, now_ms: int) -> None:
        self.value = now_ms

    async def now_ms(self) -> int:
        """The time last set."""
        return self.value

    def advance(self, ms: int) -> None:
        """Move the clock by ``ms`` (negative: a backward jump)."""
        self.value += ms
