"""Fixtures of the worker's integration tests: a worker factory and an enqueue helper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.handlers import Registry
from conveyor.keys import Keys
from conveyor_worker.examples import registry as examples
from conveyor_worker.metrics import WorkerMetrics
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker


@pytest.fixture
def make_worker(redis: Redis, keys: Keys) -> Callable[..., Worker]:
    """Build a Worker on the test's keys; keyword arguments override settings."""

    def make(
        registry: Registry | None = None,
        consumer: str | None = None,
        metrics: WorkerMetrics | None = None,
        **overrides: Any,
    ) -> Worker:
        values: dict[str, Any] = {"block_ms": 50, "breaker_enabled": False, **overrides}
        settings = WorkerSettings(**values)
        return Worker(
            redis, settings, registry or examples, keys, consumer=consumer, metrics=metrics
        )

    return make


@pytest.fixture
def enqueue(redis: Redis, keys: Keys) -> Callable[..., Awaitable[TaskEnvelope]]:
    """XADD a task to the default queue; returns its envelope."""

    async def add(task_type: str, payload: Any, **options: Any) -> TaskEnvelope:
        envelope = new_envelope(task_type, payload, "default", **options)
        await redis.xadd(keys.queue("default").tasks, envelope.to_fields())  # type: ignore[arg-type]
        return envelope

    return add


@pytest.fixture
def view(redis: Redis, keys: Keys) -> StreamView:
    """Decoded views of the queue's streams."""
    return StreamView(redis, keys.queue("default"))
