"""Progress reports: coalesced into few events per task, the last one always published."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]


async def test_a_thousand_reports_become_two_events_and_the_last_lands_before_the_outcome(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry = Registry()

    @registry.handler("t.progress")
    async def report(ctx: TaskContext, payload: object) -> str:
        for step in range(1, 1001):
            await ctx.progress(step / 1000, f"step {step}")
        return "ok"

    task = await enqueue("t.progress", None)
    await make_worker(registry=registry).run(burst=True)
    events = [e for e in await view.events() if e.task_id == task.id]
    kinds = [e.event for e in events]
    assert kinds == [
        TaskEventType.STARTED,
        TaskEventType.PROGRESS,
        TaskEventType.PROGRESS,
        TaskEventType.SUCCEEDED,
    ]
    assert [(e.progress, e.progress_message) for e in events[1:3]] == [
        (0.001, "step 1"),
        (1.0, "step 1000"),
    ]


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
async def test_a_fraction_outside_0_to_1_is_refused_with_what_to_fix(fraction: float) -> None:
    ctx = TaskContext(envelope=new_envelope("t.x", None, "default"), entry_id="1-0")
    with pytest.raises(ValueError, match="from 0 to 1"):
        await ctx.progress(fraction)
    assert ctx.last_progress is None
