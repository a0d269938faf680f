"""Handler registration: a decorator on a registry object, per-handler options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from conveyor.envelope import TASK_TYPE
from conveyor.errors import ConfigurationError, PermanentError
from conveyor.handlers._backoff import Backoff
from conveyor.handlers._context import TaskContext
from conveyor.handlers._lifespan import Lifespan, LifespanFunc, Resources, lifespans_running
from conveyor.rates import Rate, parse_rate

if TYPE_CHECKING:
    from conveyor.declarations import TaskDeclaration

HandlerFunc = Callable[[TaskContext, Any], Awaitable[Any]]
F = TypeVar("F", bound=HandlerFunc)
L = TypeVar("L", bound=LifespanFunc)
P = TypeVar("P")
R = TypeVar("R")

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class HandlerOptions:
    """How the worker runs one task type. The envelope's fields override the first two."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = DEFAULT_TIMEOUT
    backoff: Backoff = field(default_factory=Backoff)
    permanent: tuple[type[BaseException], ...] = ()
    rate_limit: Rate | None = None  # shared by every worker (docs/worker.md "Limits")
    concurrency: int | None = None  # attempts of this type running at once per process

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.timeout <= 0:
            msg = "max_attempts must be >= 1 and timeout > 0"
            raise ValueError(msg)
        if self.concurrency is not None and self.concurrency < 1:
            msg = f"concurrency must be >= 1 (got {self.concurrency})"
            raise ConfigurationError(msg)

    def is_permanent(self, exc: BaseException) -> bool:
        """Whether ``exc`` means retrying cannot help (straight to the dead letters)."""
        return isinstance(exc, (PermanentError, *self.permanent))


class InvalidPayloadError(PermanentError):
    """The payload failed the handler's model; carries pydantic's message."""


@dataclass(frozen=True, slots=True)
class Handler:
    """A registered handler: its task type, function, payload model and options."""

    name: str
    func: HandlerFunc
    model: type[BaseModel] | None
    options: HandlerOptions

    def parse(self, payload: Any) -> Any:
        """Validate ``payload`` with the handler's model (raw JSON value when none)."""
        if self.model is None:
            return payload
        try:
            return self.model.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayloadError(_described(exc)) from exc


def _rate(rate_limit: str | None, burst: int) -> Rate | None:
    return None if rate_limit is None else Rate(parse_rate(rate_limit), burst)


def _described(exc: ValidationError) -> str:
    return "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors())


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(map(str, loc)) or "<root>"


class Registry:
    """Handlers by task type. Import a module that decorates on a registry to register."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lifespans: list[Lifespan] = []

    def lifespan(self, func: L) -> L:
        """Register ``async def f(resources)``: it opens shared resources, yields once while
        the worker serves, then closes them (run once per worker process).

        ```python
        REDIS = ResourceKey("redis", Redis)

        @registry.lifespan
        async def shared(resources: Resources) -> AsyncIterator[None]:
            client = Redis.from_url("redis://db:6379")
            resources[REDIS] = client
            yield
            await client.aclose()
        ```
        """
        self._lifespans.append(Lifespan(func))
        return func

    def running(self, resources: Resources) -> AbstractAsyncContextManager[Resources]:
        """Run every lifespan around a block (StartupError when one fails to start)."""
        return lifespans_running(self._lifespans, resources)

    def handler(
        self,
        name: str,
        *,
        model: type[BaseModel] | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float = DEFAULT_TIMEOUT,
        backoff: Backoff | None = None,
        permanent: tuple[type[BaseException], ...] = (),
        rate_limit: str | None = None,
        burst: int = 1,
        concurrency: int | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated ``async def f(ctx, payload)`` for task type ``name``.

        ``rate_limit="100/s"`` (with ``burst`` at once) holds the type to that rate across
        every worker; ``concurrency`` caps its attempts running at once in one process.
        """
        options = HandlerOptions(
            max_attempts,
            timeout,
            backoff or Backoff(),
            permanent,
            _rate(rate_limit, burst),
            concurrency,
        )

        def register(func: F) -> F:
            self.add(Handler(name, func, model, options))
            return func

        return register

    def implement(
        self,
        task: TaskDeclaration[P, R],
        *,
        backoff: Backoff | None = None,
        permanent: tuple[type[BaseException], ...] = (),
        rate_limit: str | None = None,
        burst: int = 1,
        concurrency: int | None = None,
    ) -> Callable[
        [Callable[[TaskContext, P], Awaitable[R]]], Callable[[TaskContext, P], Awaitable[R]]
    ]:
        """Register the decorated handler as the implementation of declaration ``task``.

        The handler gets the payload as the declared payload type and returns the
        declared result type (the type checker holds it to both); the result is stored
        as JSON. The declaration's max_attempts and timeout are the handler's options.
        """
        options = HandlerOptions(
            task.max_attempts or DEFAULT_MAX_ATTEMPTS,
            task.timeout or DEFAULT_TIMEOUT,
            backoff or Backoff(),
            permanent,
            _rate(rate_limit, burst),
            concurrency,
        )

        def register(
            func: Callable[[TaskContext, P], Awaitable[R]],
        ) -> Callable[[TaskContext, P], Awaitable[R]]:
            async def run(ctx: TaskContext, payload: Any) -> Any:
                try:
                    parsed = task.parse_payload(payload)
                except ValidationError as exc:
                    raise InvalidPayloadError(_described(exc)) from exc
                return task.dump_result(await func(ctx, parsed))

            self.add(Handler(task.name, run, None, options))
            return func

        return register

    def add(self, handler: Handler) -> None:
        """Register ``handler``; a task type can have one handler only."""
        if not TASK_TYPE.match(handler.name):
            msg = f"invalid task type {handler.name!r}"
            raise ConfigurationError(msg)
        if handler.name in self._handlers:
            msg = f"task type {handler.name!r} is registered twice"
            raise ConfigurationError(msg)
        self._handlers[handler.name] = handler

    def merge(self, other: Registry) -> None:
        """Add every handler and lifespan of ``other``."""
        for handler in other:
            self.add(handler)
        self._lifespans += (item for item in other._lifespans if item not in self._lifespans)

    def get(self, name: str) -> Handler | None:
        """The handler of task type ``name``, or None."""
        return self._handlers.get(name)

    def __iter__(self) -> Iterator[Handler]:
        return iter(self._handlers.values())

    def __len__(self) -> int:
        return len(self._handlers)
