"""A running handler's progress shows in GET (HTTP client) and in the direct client's reads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from conveyor import AsyncClient
from conveyor.handlers import Registry, TaskContext
from waiting import wait_for


async def test_progress_shows_while_running_and_its_last_value_after(
    hclient: AsyncClient, aclient: AsyncClient, run_worker: Callable[[Registry], Awaitable[None]]
) -> None:
    registry = Registry()
    gate = asyncio.Event()

    @registry.handler("t.steps")
    async def steps(ctx: TaskContext, payload: object) -> str:
        await ctx.progress(0.5, "half way")
        await gate.wait()  # the test lets it finish once it saw the report
        await ctx.progress(1, "done")
        return "ok"

    ref = await hclient.enqueue("t.steps", None)
    worker = asyncio.ensure_future(run_worker(registry))
    try:

        async def halfway() -> bool:
            shown = await hclient.get(ref.id)
            return (shown.progress, shown.progress_message) == (0.5, "half way")

        await wait_for(halfway, within=20, what="progress 0.5 in GET")
        direct = await aclient.get(ref.id)
        assert (direct.status, direct.progress) == ("running", 0.5)
    finally:
        gate.set()
        await worker
    await ref.result(timeout=20)
    final = await hclient.get(ref.id)
    assert (final.status, final.progress, final.progress_message) == ("succeeded", 1.0, "done")
