"""Typed task declarations, shared by the producers and the worker of a task type.

A declaration names a task type, its payload model, its result type and its
defaults, and nothing else: a producer imports it without importing the handler
or any worker machinery, and the type checker ties ``enqueue`` and ``result()``
to it::

    # shared/tasks.py: imported by the web app and by the worker
    class Email(BaseModel):
        to: str
        subject: str

    class Sent(BaseModel):
        message_id: str

    send_email = declare("email.send", payload=Email, result=Sent, max_attempts=3)

    # web app
    ref = client.enqueue(send_email, Email(to="a@example.com", subject="hi"))
    sent: Sent = ref.result(timeout=10)

    # worker
    @registry.implement(send_email)
    async def send(ctx: TaskContext, payload: Email) -> Sent: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from conveyor.envelope import TASK_TYPE
from conveyor.errors import ConfigurationError

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TaskDeclaration(Generic[P, R]):
    """Task type ``name``: payload of type ``payload``, result of type ``result``.

    ``queue``, ``max_attempts`` and ``timeout`` are defaults: an enqueue may override
    the queue and the first two options per task; the worker uses ``max_attempts`` and
    ``timeout`` when the task names none.
    """

    name: str
    payload: type[P]
    result: type[R]
    queue: str = "default"
    max_attempts: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not TASK_TYPE.match(self.name):
            msg = f"invalid task type {self.name!r}: 1-128 letters, digits, '_.:/-'"
            raise ConfigurationError(msg)

    def dump_payload(self, payload: P) -> Any:
        """The payload as the JSON value the envelope carries."""
        return _adapter(self.payload).dump_python(payload, mode="json")

    def parse_payload(self, value: Any) -> P:
        """A task's JSON payload as the declared payload type (ValidationError if not)."""
        parsed: P = _adapter(self.payload).validate_python(value)
        return parsed

    def dump_result(self, result: R) -> Any:
        """A handler's result as the JSON value the read model keeps."""
        return _adapter(self.result).dump_python(result, mode="json")

    def parse_result(self, value: Any) -> R:
        """The handler's returned JSON value as the declared result type."""
        parsed: R = _adapter(self.result).validate_python(value)
        return parsed


def declare(
    name: str,
    *,
    payload: type[P],
    result: type[R],
    queue: str = "default",
    max_attempts: int | None = None,
    timeout: float | None = None,
) -> TaskDeclaration[P, R]:
    """Declare task type ``name`` (see the module docstring)."""
    return TaskDeclaration(name, payload, result, queue, max_attempts, timeout)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per type (building one costs far more than using it)."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter
