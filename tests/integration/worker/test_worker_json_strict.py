"""No NaN or Infinity through the worker: undecodable data, results, Lua's JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from conveyor.deadletter import DeadReason
from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker

MakeWorker = Callable[..., Worker]


@pytest.mark.parametrize("data", ["NaN", "Infinity", "-Infinity", '{"x":[1,NaN]}', "1e400"])
async def test_a_raw_entry_with_non_finite_data_is_dead_lettered_undecodable(
    redis: Redis, keys: Keys, make_worker: MakeWorker, view: StreamView, data: str
) -> None:
    """docs/wire-format.md: data that is not JSON is dead-lettered ``undecodable``."""
    fields = {**new_envelope("demo.echo", None, "default").to_fields(), "data": data}
    await redis.xadd(keys.queue("default").tasks, fields)  # type: ignore[arg-type]
    await make_worker().run(burst=True)
    (dead,) = await view.dead()
    assert dead.reason is DeadReason.UNDECODABLE
    assert "is not a JSON number" in dead.error
    assert dead.task_fields["data"] == data  # kept as it came
    assert await view.events() == []
    assert await view.pending() == 0


async def test_a_handler_returning_nan_fails_the_task_with_a_clear_error(
    redis: Redis, keys: Keys, make_worker: MakeWorker, view: StreamView
) -> None:
    registry = Registry()

    @registry.handler("t.nan")
    async def nan(ctx: TaskContext, payload: Any) -> Any:
        return {"ratio": float("nan")}

    task = new_envelope("t.nan", None, "default")
    await redis.xadd(keys.queue("default").tasks, task.to_fields())  # type: ignore[arg-type]
    await make_worker(registry=registry).run(burst=True)
    (dead,) = await view.dead()
    assert dead.reason is DeadReason.PERMANENT
    assert "NaN is not a JSON number (at ratio)" in dead.error
    types = await view.event_types(task.id)
    assert types == [TaskEventType.STARTED, TaskEventType.DEAD]
    assert all(event.result is None for event in await view.events())


async def test_lua_refuses_to_encode_a_non_finite_number(redis: Redis) -> None:
    """Scripts' cjson.encode raises instead of writing NaN/Infinity (Redis and Valkey)."""
    for expression in ("0/0", "1/0", "-1/0"):
        with pytest.raises(ResponseError, match="must not be NaN or Inf"):
            await redis.eval(f"return cjson.encode({{{expression}}})", 0)
