"""Workflows from the Python client over Redis: one atomic create with an idempotency key,
GET with each step's state, cancel of what has not started."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis import Redis as SyncRedis

from conveyor import AsyncClient, Step, chain, chord, group
from conveyor.client._flows import WorkflowView
from conveyor.handlers import PermanentError, Registry, TaskContext
from conveyor.keys import Keys
from waiting import wait_for

RunWorker = Callable[[Registry], Awaitable[None]]


def flow_registry(runs: list[tuple[str, Any]]) -> Registry:
    """``flow.add`` adds ``n`` to its input; ``flow.fail`` always dies."""
    registry = Registry()

    @registry.handler("flow.add")
    async def add(ctx: TaskContext, payload: Any) -> Any:
        runs.append(("flow.add", payload))
        return payload["input"] + payload["n"] if isinstance(payload, dict) else payload

    @registry.handler("flow.fail", max_attempts=1)
    async def fail(ctx: TaskContext, payload: Any) -> Any:
        runs.append(("flow.fail", payload))
        raise PermanentError("no")

    return registry


async def _finished(aclient: AsyncClient, workflow_id: str, queue: str = "default") -> WorkflowView:
    async def probe() -> WorkflowView | None:
        found = await aclient.get_workflow(workflow_id, queue)
        return found if found.done else None

    view: WorkflowView | None = await wait_for(probe, within=20, what="the workflow finished")
    assert view is not None
    return view


async def test_chain_runs_to_the_end_and_get_shows_each_step(
    aclient: AsyncClient, ingest_url: str, run_worker: RunWorker
) -> None:
    runs: list[tuple[str, Any]] = []
    flow = chain(Step("flow.add", 1), Step("flow.add", {"n": 10}), Step("flow.add", {"n": 100}))
    created = await aclient.enqueue_workflow(flow)
    assert [s.state for s in created.steps] == ["pending", "waiting", "waiting"]
    await run_worker(flow_registry(runs))
    done = await _finished(aclient, created.id)
    assert done.status == "succeeded"
    assert [(s.state, s.result) for s in done.steps] == [
        ("succeeded", 1), ("succeeded", 11), ("succeeded", 111),
    ]  # fmt: skip


async def test_one_idempotency_key_makes_one_workflow(
    aclient: AsyncClient, keys: Keys, raw: SyncRedis
) -> None:
    flow = chord(group(Step("flow.add", 1), Step("flow.add", 2)), Step("flow.add"))
    first = await aclient.enqueue_workflow(flow, idempotency_key="wf-1")
    again = await aclient.enqueue_workflow(flow, idempotency_key="wf-1")
    assert again.id == first.id
    assert raw.xlen(keys.queue("default").tasks) == 2  # the two members, once


async def test_dead_step_leaves_the_rest_of_the_chain_not_run(
    aclient: AsyncClient, ingest_url: str, run_worker: RunWorker
) -> None:
    runs: list[tuple[str, Any]] = []
    flow = chain(Step("flow.add", 1), Step("flow.fail"), Step("flow.add"))
    created = await aclient.enqueue_workflow(flow, queue="other")  # a partitioned queue
    await run_worker(flow_registry(runs))
    done = await _finished(aclient, created.id, "other")
    assert done.status == "failed"
    assert [s.state for s in done.steps] == ["succeeded", "dead", "not_run"]


async def test_cancel_stops_every_step_that_has_not_started(
    aclient: AsyncClient, ingest_url: str, run_worker: RunWorker
) -> None:
    runs: list[tuple[str, Any]] = []
    flow = chord(group(Step("flow.add", 1), Step("flow.add", 2)), chain(Step("flow.add")))
    created = await aclient.enqueue_workflow(flow)
    assert await aclient.cancel_workflow(created.id) == 3  # two members and the callback
    await run_worker(flow_registry(runs))
    assert runs == []
    done = await _finished(aclient, created.id)
    assert done.status == "cancelled"
    assert [s.state for s in done.steps] == ["cancelled", "cancelled", "not_run"]


async def test_over_http_create_read_cancel_and_replay_a_key(
    hclient: AsyncClient, run_worker: RunWorker
) -> None:
    runs: list[tuple[str, Any]] = []
    flow = chain(Step("flow.add", 2), Step("flow.add", {"n": 3}))
    created = await hclient.enqueue_workflow(flow, idempotency_key="http-1")
    again = await hclient.enqueue_workflow(flow, idempotency_key="http-1")
    assert again.id == created.id
    await run_worker(flow_registry(runs))
    done = await _finished(hclient, created.id)
    assert (done.status, [s.result for s in done.steps]) == ("succeeded", [2, 5])
    later = await hclient.enqueue_workflow(chord(group(Step("flow.add", 1)), Step("flow.add")))
    assert await hclient.cancel_workflow(later.id) == 2
    await run_worker(flow_registry(runs))
    assert (await _finished(hclient, later.id)).status == "cancelled"
    assert len(runs) == 2
