"""Handlers of the workflow chaos runs (loaded by worker processes as
CONVEYOR_WORKER_HANDLERS=flow_handlers): each run is counted through the effect API."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from conveyor.handlers import Registry, TaskContext

registry = Registry()
WORK_S = float(os.environ.get("FLOW_STEP_SECONDS", "0.005"))  # a step's work: in flight when hit


@registry.handler("flow.step")
async def step(ctx: TaskContext, payload: Any) -> Any:
    """Count this step's effect once and pass ``input + 1`` on (a chain's first step: n)."""
    await asyncio.sleep(WORK_S)
    ctx.effects.hincrby("steps", ctx.task_id, 1)
    return payload + 1 if isinstance(payload, int) else payload["input"] + 1


@registry.handler("flow.gather")
async def gather(ctx: TaskContext, payload: Any) -> Any:
    """A chord's callback: count it once; its result is the sum of the members' results."""
    ctx.effects.hincrby("callbacks", ctx.task_id, 1)
    return sum(payload)
