"""The one error hierarchy of Conveyor.

Every error raised on purpose derives from :class:`ConveyorError`. ``Retry`` and
``Drop`` are not failures but named control-flow signals a handler raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.reset_error import DatasetResetError as DatasetResetError


class ConveyorError(Exception):
    """Base of every error Conveyor raises on purpose."""


class ConfigurationError(ConveyorError):
    """Settings are invalid, or the environment cannot run Conveyor."""


class UnsupportedServerError(ConfigurationError):
    """The Redis server is too old or lacks a feature Conveyor needs."""


class StartupError(ConveyorError):
    """A service could not start, e.g. a handler lifespan failed to open its resources."""


class RedisUnavailableError(ConveyorError):
    """Redis could not be reached; the operation may succeed later."""


class JsonNumberError(ConveyorError, ValueError):
    """JSON text or a value to encode holds NaN, Infinity or a number past float range.

    RFC 8259 has no such numbers; ``path`` says where it is (``.payload.x``, ``[2]``;
    empty for the value itself).
    """

    def __init__(self, path: str, what: str) -> None:
        where = f" (at {path})" if path else ""
        super().__init__(f"{what} is not a JSON number{where}; use a finite number or null")
        self.path = path
        self.what = what

    def loc(self, prefix: str) -> str:
        """The dotted location of the number under ``prefix`` (``body.payload.x``)."""
        return f"{prefix}.{self.path}" if self.path else prefix


class EnvelopeError(ConveyorError):
    """A task envelope could not be built or read."""


class EnvelopeEncodeError(EnvelopeError):
    """A task envelope was built with invalid values."""


class EnvelopeDecodeError(EnvelopeError):
    """A stream entry is not a valid task envelope.

    Keeps the entry id and the raw fields so the entry can be dead-lettered
    as it was received.
    """

    def __init__(self, entry_id: str, fields: Mapping[Any, Any], reason: str) -> None:
        super().__init__(f"entry {entry_id}: {reason}")
        self.entry_id = entry_id
        self.fields = dict(fields)
        self.reason = reason


class HandlerError(ConveyorError):
    """A task handler failed."""


class PermanentError(HandlerError):
    """A failure that retrying cannot fix: the task goes straight to the dead letters."""


class UnknownTaskTypeError(PermanentError):
    """No handler is registered for the task's type."""


class ControlSignal(ConveyorError):  # noqa: N818 - a signal, not an error, by design
    """Base of the control-flow signals a handler may raise."""


class Retry(ControlSignal):
    """Ask for another attempt after ``delay`` seconds (None: the handler's backoff)."""

    def __init__(self, delay: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class Drop(ControlSignal):
    """Finish the task without running it further and without dead-lettering it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RequestError(ConveyorError):
    """A request the API (or the direct write path) refused: HTTP status, message, fields.

    ``message`` is the envelope's message, which says what to fix; ``errors`` its
    field errors (``{"loc", "msg"}``). The client raises a subclass per status.
    """

    status = 400

    def __init__(
        self, message: str, errors: Sequence[Mapping[str, str]] = (), status: int | None = None
    ) -> None:
        detail = "; ".join(f"{e.get('loc', '')}: {e.get('msg', '')}" for e in errors)
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.errors = [dict(error) for error in errors]
        if status is not None:
            self.status = status


class InvalidTaskError(RequestError):
    """422: a task (or a change to one) was refused; ``errors`` names each bad field.

    Raised alike by the direct write path and for the HTTP API's 422 envelope.
    """

    status = 422


class AuthenticationError(RequestError):
    """401: no token, or one the API does not accept."""

    status = 401


class PermissionDeniedError(RequestError):
    """403: the token lacks the scope (or the queue) the call needs."""

    status = 403


class NotFoundError(RequestError):
    """404: no such task, schedule or dead letter (or it expired from the read model)."""

    status = 404


class ConflictError(RequestError):
    """409: the task is past the state the call needs (started, finished)."""

    status = 409


class PayloadTooLargeError(RequestError):
    """413: the request body is larger than the API accepts."""

    status = 413


class RateLimitedError(RequestError):
    """429: too many requests from this client; ``retry_after`` seconds to wait."""

    status = 429
    retry_after: float | None = None


class ServiceUnavailableError(RequestError):
    """503 (or no connection): the service is overloaded or cannot reach Redis."""

    status = 503


class TaskOutcomeError(ConveyorError):
    """A task did not produce a result; ``view`` is how the read model shows it."""

    def __init__(self, message: str, view: Any) -> None:
        super().__init__(message)
        self.view = view


class TaskDeadError(TaskOutcomeError):
    """The task was dead-lettered (its error says why)."""


class TaskCancelledError(TaskOutcomeError):
    """The task was cancelled before it ran."""


class WaitTimeoutError(ConveyorError, TimeoutError):
    """The task did not finish within the time waited for it."""


def __getattr__(name: str) -> Any:
    # DatasetResetError derives from redis-py's RedisError: loaded on first use, so
    # importing this module does not import redis-py (the HTTP client never needs it).
    if name == "DatasetResetError":
        from conveyor.reset_error import DatasetResetError as DatasetResetError

        return DatasetResetError
    msg = f"module 'conveyor.errors' has no attribute {name!r}"
    raise AttributeError(msg)
