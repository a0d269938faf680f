"""Wait for a condition with a deadline: the tests' only way to synchronise."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_for(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float = 10.0,
    interval: float = 0.01,
    what: str = "condition",
) -> T: ...


@overload
async def wait_for(
    probe: Callable[[], T],
    *,
    within: float = 10.0,
    interval: float = 0.01,
    what: str = "condition",
) -> T: ...


async def wait_for(
    probe: Callable[[], Awaitable[Any] | Any],
    *,
    within: float = 10.0,
    interval: float = 0.01,
    what: str = "condition",
) -> Any:
    """Poll ``probe`` until it returns a truthy value and return that; fail after ``within`` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        result = probe()
        last = await result if inspect.isawaitable(result) else result
        if last:
            return last
        if time.monotonic() >= deadline:
            msg = f"{what} not reached within {within} s (last value: {last!r})"
            raise AssertionError(msg)
        await asyncio.sleep(interval)
