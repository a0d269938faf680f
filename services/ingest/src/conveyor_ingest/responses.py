"""The unified response envelope ``{"code", "message", "data"}`` and the API's errors.

``code`` mirrors the HTTP status. A 422 adds ``errors``: one entry per field,
``{"loc": "tasks.0.type", "msg": "..."}``. Handlers raise :class:`ApiError`; the
error middleware turns it (and anything else) into an envelope.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from conveyor import jsoncodec

JSON_TYPE = "application/json"


class ApiError(Exception):
    """An error answer: HTTP status, a message that says what to fix, optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors or [])
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class RawJson:
    """``data`` already rendered as JSON text (hot paths build it without json.dumps)."""

    text: str


def dumps(value: Any) -> str:
    """Compact JSON text."""
    return jsoncodec.dumps(value)


# The C string encoder (as dumps() writes a str, non-ASCII kept) without a json.dumps call.
_STR = json.encoder.encode_basestring


def body_text(status: int, data: Any, message: str | None = None) -> str:
    """The envelope's JSON text; ``message`` defaults to the status's phrase ("Accepted")."""
    phrase = message or HTTPStatus(status).phrase
    if isinstance(data, RawJson):
        return f'{{"code":{status:d},"message":{_STR(phrase)},"data":{data.text}}}'
    if isinstance(data, BaseModel):  # a response model: the fields it was given
        data = data.model_dump(mode="json", exclude_unset=True)
    return dumps({"code": status, "message": phrase, "data": data})


def ok(data: Any, status: int = 200, message: str | None = None) -> web.Response:
    """A success envelope."""
    return web.Response(
        text=body_text(status, data, message), status=status, content_type=JSON_TYPE
    )


def raw(text: str, status: int) -> web.Response:
    """A stored envelope text answered as it was first (Idempotency-Key replays)."""
    return web.Response(text=text, status=status, content_type=JSON_TYPE)


def error_response(exc: ApiError) -> web.Response:
    """The envelope of an error."""
    payload: dict[str, Any] = {"code": exc.status, "message": exc.message, "data": None}
    if exc.errors:
        payload["errors"] = exc.errors
    return web.Response(
        text=dumps(payload), status=exc.status, content_type=JSON_TYPE, headers=exc.headers
    )


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One ``{"loc", "msg"}`` per pydantic error, ``loc`` dotted (``tasks.3.payload``)."""
    result = []
    for error in exc.errors(include_url=False):
        parts = [prefix] if prefix else []
        parts += [str(part) for part in error["loc"]]
        result.append({"loc": ".".join(parts) or "body", "msg": error["msg"]})
    return result


def unprocessable(message: str, errors: Sequence[Mapping[str, str]] = ()) -> ApiError:
    """A 422 with field errors."""
    return ApiError(422, message, errors=errors)
