"""The service entry point: settings from the environment, handlers loaded, tasks served."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope
from conveyor.errors import ConfigurationError
from conveyor.events import TaskEventType
from conveyor.keys import Keys
from conveyor_worker.app import serve
from conveyor_worker.loading import load_registry
from conveyor_worker.testing import StreamView
from waiting import wait_for

Enqueue = Callable[..., Awaitable[TaskEnvelope]]


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float = 30) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=within, what=what)


async def test_service_serves_example_handlers_until_stopped(
    redis: Redis,
    redis_url: str,
    keys: Keys,
    enqueue: Enqueue,
    view: StreamView,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONVEYOR_REDIS_URL", redis_url)
    monkeypatch.setenv("CONVEYOR_KEY_PREFIX", keys.prefix)
    monkeypatch.setenv("CONVEYOR_WORKER_METRICS_PORT", "0")
    monkeypatch.setenv("CONVEYOR_WORKER_BLOCK_MS", "50")
    stop = asyncio.Event()
    service = asyncio.create_task(serve(stop))
    task = await enqueue("demo.echo", {"hi": 1})

    async def succeeded() -> bool:
        return TaskEventType.SUCCEEDED in await view.event_types(task.id)

    await eventually(succeeded, "task succeeded")
    stop.set()
    await asyncio.wait_for(service, 30)


def test_handler_modules_that_do_not_import_or_register_nothing_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="cannot import"):
        load_registry(["no.such.module"])
    with pytest.raises(ConfigurationError, match="defines no"):
        load_registry(["json"])
    assert {h.name for h in load_registry(["conveyor_worker.examples"])} == {
        "demo.echo",
        "demo.sleep",
        "demo.fail",
        "demo.ledger",
    }
