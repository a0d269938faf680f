"""The one error hierarchy of Conveyor.

Every error raised on purpose derives from :class:`ConveyorError`. ``Retry`` and
``Drop`` are not failures but named control-flow signals a handler raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
