"""The client's operator calls over HTTP (asyncio): task listing, queues, dead letters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from conveyor import AsyncClient
from conveyor.errors import ConfigurationError, NotFoundError
from conveyor.handlers import PermanentError, Registry, TaskContext


async def test_list_tasks_queues_and_pause_over_http(hclient: AsyncClient) -> None:
    first = await hclient.enqueue("test.a", 1)
    await hclient.enqueue("test.b", 2, queue="other")
    page = await hclient.list_tasks(queue="default", type="test.a", limit=10)
    assert [task.id for task in page.items] == [first.id]
    assert page.next_cursor is None
    figures = {q["queue"]: q for q in await hclient.queues.list()}
    assert figures["other"]["depth"] == 1
    assert (await hclient.queues.pause("other"))["paused"] is True
    assert (await hclient.queues.resume("other"))["changed"] is True
    assert await hclient.workers.list() == []


async def test_dead_letter_page_get_replay_matching_and_delete(
    hclient: AsyncClient, run_worker: Callable[[Registry], Awaitable[None]]
) -> None:
    registry = Registry()

    @registry.handler("test.fail")
    async def fail(ctx: TaskContext, payload: Any) -> None:
        raise PermanentError("broken")

    refs = [await hclient.enqueue("test.fail", n) for n in range(3)]
    await run_worker(registry)
    for ref in refs:
        await hclient.wait(ref.id, 30)
    page = await hclient.dead_letters.page(limit=2)
    assert len(page["items"]) == 2
    assert page["next_cursor"] == page["items"][-1]["entry_id"]
    letter = await hclient.dead_letters.get("default", page["items"][0]["entry_id"])
    assert letter["task_id"] == refs[-1].id
    report = await hclient.dead_letters.replay_matching(type="test.fail", limit=2)
    assert [r["replay_of"] for r in report["replayed"]] == [refs[0].id, refs[1].id]
    await hclient.dead_letters.delete("default", letter["entry_id"])
    with pytest.raises(NotFoundError):
        await hclient.dead_letters.get("default", letter["entry_id"])
    assert await hclient.dead_letters.purge(all_queues=True) == 2


async def test_operator_calls_need_the_http_transport(aclient: AsyncClient) -> None:
    with pytest.raises(ConfigurationError, match="http"):
        await aclient.list_tasks()
    with pytest.raises(ConfigurationError, match="http"):
        await aclient.queues.list()
