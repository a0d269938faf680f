"""Handlers the worker benchmark loads with CONVEYOR_WORKER_HANDLERS=bench_worker_handlers."""

from __future__ import annotations

import time
from typing import Any

from conveyor.handlers import Registry, TaskContext

registry = Registry()


@registry.handler("bench.noop")
async def noop(ctx: TaskContext, payload: Any) -> None:
    """Do nothing: measures the worker's own cost per task."""


@registry.handler("bench.stamp")
async def stamp(ctx: TaskContext, payload: Any) -> float:
    """Return how long after its enqueue time (payload ``t``, Unix ns) the handler started."""
    return (time.time_ns() - int(payload["t"])) / 1e6
