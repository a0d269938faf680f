"""The one error hierarchy of Conveyor.

Every error raised on purpose derives from :class:`ConveyorError`. ``Retry`` and
``Drop`` are not failures but named control-flow signals a handler raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ConveyorError(Exception):
    """Base of every error Conveyor raises on purpose."""


class ConfigurationError(ConveyorError):
    """Settings are invalid, or the environment cannot run Conveyor."""


class UnsupportedServerError(ConfigurationError):
    """The Redis server is too old or lacks a feature Conveyor needs."""


class RedisUnavailableError(ConveyorError):
    """Redis could not be reached; the operation may succeed later."""


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


class InvalidTaskError(ConveyorError):
    """A task (or a change to one) was refused: ``message`` and one entry per field.

    ``errors`` holds ``{"loc": "<dotted field path>", "msg": "<what to fix>"}`` items,
    as the HTTP API's 422 envelope does; the client raises this for both transports.
    """

    def __init__(self, message: str, errors: Sequence[Mapping[str, str]] = ()) -> None:
        detail = "; ".join(f"{e.get('loc', '')}: {e.get('msg', '')}" for e in errors)
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.errors = [dict(error) for error in errors]
