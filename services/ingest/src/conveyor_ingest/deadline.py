"""The request deadline: every request that writes is answered within one configured time.

Calls to Redis queue behind each other while a connection is stuck (the script
writer keeps a few pipelines in flight; later calls wait for a slot), so socket
timeouts alone do not bound a request. The middleware runs each write request
under ``CONVEYOR_INGEST_REQUEST_TIMEOUT`` (``answer_within``); the writer reads the
deadline (``current``) and never sends a call after it. At the deadline a request
gets 503, with one of two meanings:

- ``NotWrittenError``: nothing was sent; the request had no effect;
- ``OutcomeUnknownError``: the write was sent and Redis did not answer in time; it
  may still be applied. Retrying with the same Idempotency-Key is safe (it finds
  the task if it exists); a retry without one may create a second task.

Reads (GET, HEAD) are not bounded here: long polls and event streams last long
on purpose, and each of their commands has the client's own timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from aiohttp import web
from redis import exceptions as redis_errors

_DEADLINE: ContextVar[float | None] = ContextVar("conveyor_ingest_deadline", default=None)
# The writer's own answer (not written / outcome unknown) comes first; this is the backstop.
_BACKSTOP_S = 0.05
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class DeadlineExceededError(redis_errors.TimeoutError):
    """The request's writes did not finish within its deadline (a 503, like any Redis timeout)."""


class NotWrittenError(DeadlineExceededError):
    """The deadline passed before the write was sent: it did not happen."""


class OutcomeUnknownError(DeadlineExceededError):
    """The write was sent, but Redis did not answer before the deadline: it may happen."""


def current() -> float | None:
    """The running request's deadline (event-loop time), or None outside one."""
    return _DEADLINE.get()


def use(deadline: float | None) -> None:
    """Make ``deadline`` the current one (in a task that writes for several requests)."""
    _DEADLINE.set(deadline)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def answer_within(
    seconds: float, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """``handler(request)``, bounded by a deadline ``seconds`` from now unless it only reads."""
    if request.method in _READS:
        return await handler(request)
    deadline = asyncio.get_running_loop().time() + seconds
    token = _DEADLINE.set(deadline)
    try:
        async with asyncio.timeout_at(deadline + _BACKSTOP_S):
            return await handler(request)
    except TimeoutError as exc:
        msg = (
            f"no answer from storage within {seconds} s; the request may have taken effect: "
            "retry with the same Idempotency-Key"
        )
        raise OutcomeUnknownError(msg) from exc
    finally:
        _DEADLINE.reset(token)
