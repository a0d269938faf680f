"""Fixtures of the scheduler's integration tests: scheduler replicas driven by explicit time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings

ReplicaFactory = Callable[..., Scheduler]


@pytest.fixture
def make_replica(redis: Redis, keys: Keys) -> ReplicaFactory:
    """Build a scheduler replica (its own consumer name) on the test's keys."""

    def build(consumer: str = "replica-a", **overrides: Any) -> Scheduler:
        settings = SchedulerSettings(consumer=consumer, **overrides)
        return Scheduler(redis, keys, settings)

    return build
