"""Shared resources: what a registry's lifespans open once per worker process.

A lifespan is an async generator that receives the process's :class:`Resources`,
puts what it opened under typed keys, yields while the worker serves, and closes
it afterwards. Handlers read the resources from ``ctx.resources``, typed by the key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from conveyor.errors import StartupError

T = TypeVar("T")

LifespanFunc = Callable[["Resources"], AsyncIterator[None]]


@dataclass(frozen=True, eq=False, slots=True)
class ResourceKey(Generic[T]):
    """A typed name for one shared resource: ``REDIS = ResourceKey("redis", Redis)``."""

    name: str
    kind: type[T]

    def __repr__(self) -> str:
        return f"ResourceKey({self.name!r}, {self.kind.__qualname__})"


class Resources:
    """The resources the lifespans provided, by typed key (one object per worker process)."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[ResourceKey[Any], Any] = {}

    def __setitem__(self, key: ResourceKey[T], value: T) -> None:
        if not isinstance(value, key.kind):
            msg = f"resource {key.name!r} must be a {key.kind.__qualname__}, not {type(value)!r}"
            raise TypeError(msg)
        if key in self._values:
            msg = f"resource {key.name!r} is provided twice"
            raise ValueError(msg)
        self._values[key] = value

    def __getitem__(self, key: ResourceKey[T]) -> T:
        try:
            value: T = self._values[key]
        except KeyError:
            msg = f"resource {key.name!r} was not provided: is its lifespan on a served registry?"
            raise KeyError(msg) from None
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def clear(self) -> None:
        """Forget every resource (their lifespans closed them)."""
        self._values.clear()


@dataclass(frozen=True, slots=True)
class Lifespan:
    """One registered lifespan function and the name its errors are reported by."""

    func: LifespanFunc

    @property
    def name(self) -> str:
        """``module.qualname`` of the function."""
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def context(self, resources: Resources) -> AbstractAsyncContextManager[None]:
        """The lifespan as an async context manager over ``resources``."""
        return asynccontextmanager(self.func)(resources)


@asynccontextmanager
async def lifespans_running(
    lifespans: Sequence[Lifespan], resources: Resources
) -> AsyncIterator[Resources]:
    """Enter every lifespan in order, yield ``resources``, exit them in reverse order.

    A lifespan that fails to start raises :class:`StartupError` naming it (those
    already started are closed first).
    """
    async with AsyncExitStack() as stack:
        stack.callback(resources.clear)  # last, after every lifespan closed what it opened
        for lifespan in lifespans:
            try:
                await stack.enter_async_context(lifespan.context(resources))
            except Exception as exc:
                msg = f"handler lifespan {lifespan.name} failed to start: {_describe(exc)}"
                raise StartupError(msg) from exc
        yield resources


def _describe(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ").strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
