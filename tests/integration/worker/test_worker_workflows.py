"""Workflows ride the commit: a chain's next step and a chord's callback are enqueued in
the commit that acknowledges the finished step, once, whatever is redelivered."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from conveyor.events import TaskEventType
from conveyor.handlers import PermanentError, Registry, TaskContext
from conveyor.keys import Keys
from conveyor.streams import Group, ensure_group
from conveyor.workflows import Policy, Step, WorkflowPlan, chain, chord, group, plan
from conveyor_worker.testing import StreamView, read_as
from conveyor_worker.worker import Worker

MakeWorker = Callable[..., Worker]


def flow_registry() -> tuple[Registry, list[tuple[str, Any]]]:
    """Handlers of the workflow tests; ``runs`` records (type, payload) of every run."""
    registry = Registry()
    runs: list[tuple[str, Any]] = []

    @registry.handler("wf.add")
    async def add(ctx: TaskContext, payload: Any) -> Any:
        runs.append(("wf.add", payload))
        if isinstance(payload, dict):
            return payload["input"] + payload["n"]
        return payload

    @registry.handler("wf.fail", max_attempts=1)
    async def fail(ctx: TaskContext, payload: Any) -> Any:
        runs.append(("wf.fail", payload))
        raise PermanentError("no")

    @registry.handler("wf.count")
    async def count(ctx: TaskContext, payload: Any) -> Any:
        runs.append(("wf.count", payload))
        return ctx.effects.incrby("counted", 1)

    @registry.handler("wf.collect")
    async def collect(ctx: TaskContext, payload: Any) -> Any:
        runs.append(("wf.collect", payload))
        return payload

    return registry, runs


async def _write(redis: Redis, keys: Keys, flow: WorkflowPlan) -> None:
    for task in flow.tasks:
        await redis.xadd(keys.queue("default").tasks, task.envelope.to_fields())  # type: ignore[arg-type]


async def _succeeded(view: StreamView) -> dict[str, Any]:
    return {
        e.task_id: json.loads(e.result or "null")
        for e in await view.events()
        if e.event is TaskEventType.SUCCEEDED
    }


async def test_chain_passes_each_result_on_as_input_or_as_the_whole_payload(
    redis: Redis, keys: Keys, make_worker: MakeWorker, view: StreamView
) -> None:
    registry, runs = flow_registry()
    flow = plan(chain(Step("wf.add", 5), Step("wf.add", {"n": 2}), Step("wf.add")), "default")
    await _write(redis, keys, flow)
    await make_worker(registry).run(burst=True)
    assert runs == [("wf.add", 5), ("wf.add", {"input": 5, "n": 2}), ("wf.add", 7)]
    results = await _succeeded(view)
    assert [results[s.task_id] for s in flow.steps] == [5, 7, 7]
    pending = [e for e in await view.events() if e.event is TaskEventType.PENDING]
    assert [e.task_id for e in pending] == [s.task_id for s in flow.steps[1:]]


async def test_dead_step_stops_its_chain(
    redis: Redis, keys: Keys, make_worker: MakeWorker, view: StreamView
) -> None:
    registry, runs = flow_registry()
    flow = plan(chain(Step("wf.add", 1), Step("wf.fail"), Step("wf.add")), "default")
    await _write(redis, keys, flow)
    await make_worker(registry).run(burst=True)
    assert [r[0] for r in runs] == ["wf.add", "wf.fail"]
    state = await redis.hgetall(keys.queue("default").workflow_state(flow.id))
    assert state[b"stopped_by"] == flow.steps[1].task_id.encode()


async def test_stale_commit_of_a_finished_step_enqueues_nothing_more(
    redis: Redis, keys: Keys, make_worker: MakeWorker, view: StreamView
) -> None:
    """A stale consumer commits the same step again (XACK does not check ownership): the
    next step is not enqueued twice, with or without effects."""
    registry, runs = flow_registry()
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, Group.WORKERS.value)
    for first in (Step("wf.collect", 1), Step("wf.count")):
        flow = plan(chain(first, Step("wf.add")), "default")
        await _write(redis, keys, flow)
        [(entry_id, fields)] = await read_as(redis, q.tasks, "stale", 1)
        for _ in range(2):  # the live owner, then the stale one, commit the same entry
            worker = make_worker(registry)
            worker.queues[0].dispatcher.dispatch([(entry_id, fields)])
            await worker.run(burst=True)
        assert sorted(name for name, _ in runs) == sorted([first.type, first.type, "wf.add"])
        runs.clear()
    assert await redis.get(q.effect_key("counted")) == b"1"


async def test_chord_callback_runs_once_with_the_results_in_member_order(
    redis: Redis, keys: Keys, make_worker: MakeWorker, view: StreamView
) -> None:
    registry, runs = flow_registry()
    members = group(*(Step("wf.add", n) for n in range(10)))
    flow = plan(chord(members, Step("wf.collect", {"tag": "x"})), "default")
    await _write(redis, keys, flow)
    await make_worker(registry, concurrency=4).run(burst=True)
    callbacks = [payload for name, payload in runs if name == "wf.collect"]
    assert callbacks == [{"input": list(range(10)), "tag": "x"}]


async def test_chord_policy_stop_skips_the_callback_and_continue_reports_each_member(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    registry, runs = flow_registry()
    members = group(Step("wf.add", 1), Step("wf.fail"), Step("wf.add", 3))
    stopped = plan(chord(members, Step("wf.collect")), "default")
    reported = plan(chord(members, Step("wf.collect"), Policy.CONTINUE), "default")
    await _write(redis, keys, stopped)
    await _write(redis, keys, reported)
    await make_worker(registry).run(burst=True)
    callbacks = [payload for name, payload in runs if name == "wf.collect"]
    assert callbacks == [
        [
            {"status": "succeeded", "result": 1},
            {"status": "dead", "error": "permanent: PermanentError: no"},
            {"status": "succeeded", "result": 3},
        ]
    ]


async def test_chord_callback_chain_continues_after_the_callback(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    registry, runs = flow_registry()
    flow = plan(
        chord(
            group(Step("wf.add", 1), Step("wf.add", 2)), chain(Step("wf.collect"), Step("wf.add"))
        ),
        "default",
    )
    await _write(redis, keys, flow)
    await make_worker(registry).run(burst=True)
    assert runs[-2:] == [("wf.collect", [1, 2]), ("wf.add", [1, 2])]
