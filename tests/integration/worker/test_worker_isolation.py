"""Every handler runs in its own copy of the context, inside its timeout.

Handlers tag their log lines with ``structlog.contextvars.bind_contextvars`` or
set context variables of their own; none of that may reach the tasks that start
after them, whether the handler awaits or not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import pytest
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker
from tracing_globals import recorded_spans

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]

TAG: ContextVar[str | None] = ContextVar("TAG", default=None)


def _tagging_registry() -> Registry:
    """``t.bind`` tags its context three ways; ``t.read`` reports what its context holds."""
    registry = Registry()

    def bind(tag: str) -> None:
        structlog.contextvars.bind_contextvars(tag=tag)
        TAG.set(tag)
        other = SpanContext(int(tag.encode().hex(), 16), 1, is_remote=True)
        otel_context.attach(trace.set_span_in_context(NonRecordingSpan(other)))

    def seen() -> dict[str, Any]:
        span = trace.get_current_span().get_span_context()
        return {
            "structlog": structlog.contextvars.get_contextvars().get("tag"),
            "contextvar": TAG.get(),
            "trace_id": span.trace_id,
        }

    @registry.handler("t.bind")
    async def bind_now(ctx: TaskContext, payload: str) -> None:
        bind(payload)  # never awaits

    @registry.handler("t.bind_later")
    async def bind_later(ctx: TaskContext, payload: str) -> None:
        await asyncio.sleep(0)
        bind(payload)

    @registry.handler("t.read")
    async def read_now(ctx: TaskContext, payload: None) -> dict[str, Any]:
        return seen()

    @registry.handler("t.read_later")
    async def read_later(ctx: TaskContext, payload: None) -> dict[str, Any]:
        await asyncio.sleep(0)
        return seen()

    return registry


async def _results(view: StreamView, tasks: list[TaskEnvelope]) -> list[Any]:
    by_id = {
        e.task_id: json.loads(e.result or "null")
        for e in await view.events()
        if e.event is TaskEventType.SUCCEEDED
    }
    return [by_id[t.id] for t in tasks]


@pytest.mark.parametrize(
    ("binder", "reader"),
    [("t.bind", "t.read"), ("t.bind", "t.read_later"), ("t.bind_later", "t.read")],
)
async def test_context_a_handler_binds_never_reaches_the_tasks_after_it(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView, binder: str, reader: str
) -> None:
    """Six tasks alternating "bind a tag" and "read the context at start", in one batch."""
    readers = []
    for tag in ("a", "b", "c"):
        await enqueue(binder, tag)
        readers.append(await enqueue(reader, None))
    await make_worker(registry=_tagging_registry()).run(burst=True)
    assert (
        await _results(view, readers)
        == [{"structlog": None, "contextvar": None, "trace_id": 0}] * 3
    )
    assert await view.pending() == 0


async def test_each_handler_sees_its_own_tasks_trace_context_when_tracing_is_on(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    readers = []
    with recorded_spans() as exporter:
        for n in (1, 2, 3):
            await enqueue("t.bind", f"x{n}", traceparent=f"00-{n:032x}-{n:016x}-01")
            parent = f"00-{n + 8:032x}-{1:016x}-01"
            readers.append(await enqueue("t.read", None, traceparent=parent))
        await make_worker(registry=_tagging_registry()).run(burst=True)
        spans = exporter.get_finished_spans()
    seen = await _results(view, readers)
    assert [s["trace_id"] for s in seen] == [9, 10, 11]
    assert [(s["structlog"], s["contextvar"]) for s in seen] == [(None, None)] * 3
    assert sorted(s.context.trace_id for s in spans if s.name == "process t.read") == [9, 10, 11]


async def test_canonical_attempt_line_carries_what_the_handler_bound_and_nothing_else(
    make_worker: MakeWorker, enqueue: Enqueue
) -> None:
    first = await enqueue("t.bind", "a")
    second = await enqueue("t.read", None)
    merged = [structlog.contextvars.merge_contextvars]
    with structlog.testing.capture_logs(processors=merged) as logs:
        await make_worker(registry=_tagging_registry()).run(burst=True)
    finished = {line["task_id"]: line for line in logs if line["event"] == "task_attempt_finished"}
    assert finished[first.id].get("tag") == "a"
    assert "tag" not in finished[second.id]


async def test_a_handler_that_overruns_its_timeout_in_its_first_step_times_out(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    """The timeout counts from the start: CPU spent before the first await is inside it."""
    registry = Registry()

    @registry.handler("t.slow_start", timeout=0.3)
    async def slow_start(ctx: TaskContext, payload: None) -> str:
        until = time.monotonic() + 0.35
        while time.monotonic() < until:  # CPU work past the timeout, no await
            pass
        await asyncio.sleep(0.1)  # well within the timeout if it only started here
        return "late"

    task = await enqueue("t.slow_start", None, max_attempts=1)
    await make_worker(registry=registry).run(burst=True)
    assert await view.event_types(task.id) == [TaskEventType.STARTED, TaskEventType.DEAD]
    [letter] = await view.dead()
    assert "exceeded its timeout of 0.3 s" in letter.error


async def test_an_attempt_committed_but_not_yet_released_is_not_renewed_or_counted_lost(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue
) -> None:
    """Its task releases the entry one step after the commit: the lease keeper must not
    renew an acknowledged entry, nor count it as taken by another consumer."""
    await enqueue("t.read", None)
    consumer = make_worker(registry=_tagging_registry()).queues[0]
    await consumer.setup()
    assert await consumer.read_once(None) == 1
    dispatcher, committer = consumer.dispatcher, consumer.committer
    [entry_id] = dispatcher.in_flight
    while not (job := dispatcher.in_flight[entry_id]) or job.outcome is None:
        await committer.flush()  # the start op, then the attempt runs and adds its outcome
        await asyncio.sleep(0)  # one loop step: lets the attempt's task run to its commit
    await committer.flush()  # the outcome: committed; the task has not released it yet
    assert entry_id in dispatcher.in_flight
    assert dispatcher.running_entries() == []
    assert await consumer.leases.renew() == 0
    assert consumer.leases._metrics.leases_lost.labels("default")._value.get() == 0
