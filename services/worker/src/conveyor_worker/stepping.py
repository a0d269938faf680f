"""Run a handler coroutine's first step inline; make a task only if it really awaits.

Most no-op or CPU-only handlers finish without awaiting anything. Creating an
asyncio task for each costs more than the handler itself, so the dispatcher
steps the coroutine once by hand: if it finishes, the result is there at once;
if it yields (it awaits a future), :class:`Resumed` hands it to a real task that
continues exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finished:
    """The coroutine returned ``value`` in its first step."""

    value: Any


@dataclass(frozen=True, slots=True)
class Suspended:
    """The coroutine yielded ``yielded`` (a future for the event loop) and must continue."""

    coro: Coroutine[Any, Any, Any]
    yielded: Any


def first_step(coro: Coroutine[Any, Any, Any]) -> Finished | Suspended:
    """Step ``coro`` once; exceptions it raises propagate to the caller."""
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return Finished(stop.value)
    return Suspended(coro, yielded)


class Resumed:
    """Awaitable that continues a suspended coroutine inside the awaiting task.

    It passes the already-yielded future up to the task first, then relays every
    send and throw (including cancellation) to the coroutine, as ``await`` would.
    """

    __slots__ = ("_coro", "_yielded")

    def __init__(self, suspended: Suspended) -> None:
        self._coro = suspended.coro
        self._yielded = suspended.yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._yielded
        while True:
            try:
                sent = yield value
            except BaseException as exc:
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value
