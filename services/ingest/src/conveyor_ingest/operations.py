"""One declaration per route: the aiohttp route and its API contract, in one place.

A route module declares each handler with ``@routes.operation(...)``: method, path,
the request body model and the content types it is read from, the query model, the
success model and status, the headers it reads and the errors it answers beyond
those every operation of its kind can answer. aiohttp routes the request by it, the
middleware checks the body's content type against it, and the OpenAPI document
(openapi.py) is generated from it, so the document cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from conveyor_ingest.responses import JSON_TYPE, field_errors, unprocessable

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HandlerT = TypeVar("HandlerT", bound=Handler)

# A path parameter with aiohttp's optional regular expression: {name} or {name:regex}.
PATH_PARAMETER = re.compile(
    r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<pattern>[^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}"
)


@dataclass(frozen=True, slots=True)
class Header:
    """A request header an operation reads."""

    name: str
    description: str
    schema: Mapping[str, Any]


def link_to(*operation_ids: str, **parameters: str) -> dict[str, tuple[str, Mapping[str, str]]]:
    """Links from an answer to ``operation_ids``, each given ``parameters`` (expressions)."""
    return {operation_id: (operation_id, parameters) for operation_id in operation_ids}


IDEMPOTENCY_KEY = Header(
    "Idempotency-Key",
    "Retry-safe key, scoped to the client: the same key with the same body answers the "
    "first response again (Idempotent-Replayed: true); with another body, 422.",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^{}\x00-\x1f\x7f]+$"},
)


@dataclass(frozen=True, slots=True)
class Operation:
    """What one route reads and answers."""

    method: str
    path: str  # as aiohttp routes it: {name} or {name:regex}
    operation_id: str
    summary: str
    description: str
    request: type[BaseModel] | None = None
    body_types: tuple[str, ...] = (JSON_TYPE,)  # documented, with ``request`` as schema
    also_accepts: tuple[str, ...] = ()  # read too (e.g. binary-mode events), undocumented
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    media_type: str = JSON_TYPE  # the success answer's content type
    event: str = "status"  # the name of each server-sent event (text/event-stream answers)
    envelope: bool = True  # the success answer is {code, message, data: response}
    error_data: Mapping[int, type[BaseModel]] = field(default_factory=dict)  # data of an error
    errors: tuple[int, ...] = ()
    headers: tuple[Header, ...] = ()
    auth: bool = True
    redis: bool = True  # reads or writes Redis: may answer 503 while it is unreachable
    # OpenAPI links from the success answer: name -> (operationId, {parameter: expression}).
    links: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    path_patterns: Mapping[str, str] = field(default_factory=dict)

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it (no regular expressions)."""
        return PATH_PARAMETER.sub(lambda m: "{" + m["name"] + "}", self.path)

    def error_statuses(self) -> tuple[int, ...]:
        """Every error status this operation can answer, sorted."""
        statuses = set(self.errors)
        if self.auth:
            statuses |= {401, 403}
        if self.request is not None:
            statuses |= {400, 413, 415, 422}
        if self.query is not None:
            statuses.add(422)
        if self.path_patterns:
            statuses.add(404)
        if self.redis:
            statuses.add(503)
        return tuple(sorted(statuses))

    def accepts(self, content_type: str) -> bool:
        """Whether a body of ``content_type`` (lower case, no parameters) may be read."""
        accepted = (*self.body_types, *self.also_accepts)
        return any(_matches(content_type, kind) for kind in accepted)


def _matches(content_type: str, accepted: str) -> bool:
    if accepted == "*/*":  # the route reads any type itself (binary-mode events)
        return True
    if accepted.startswith("application/*+"):  # a structured-syntax suffix, e.g. +json
        return content_type.startswith("application/") and content_type.endswith(accepted[13:])
    return content_type == accepted


class ApiRoutes(web.RouteTableDef):
    """A route table whose routes carry their Operation."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Operation] = []

    def operation(self, method: str, path: str, **contract: Any) -> Callable[[HandlerT], HandlerT]:
        """Register the decorated handler for ``method path`` with its contract."""

        def register(handler: HandlerT) -> HandlerT:
            doc = (handler.__doc__ or "").strip()
            summary, _, description = doc.partition("\n")
            patterns = {m["name"]: m["pattern"] or "[^/]+" for m in PATH_PARAMETER.finditer(path)}
            operation = Operation(
                method=method.lower(),
                path=path,
                operation_id=handler.__name__,
                summary=summary.strip(),
                description=description.strip(),
                path_patterns=patterns,
                **contract,
            )
            self.operations.append(operation)
            setattr(handler, OPERATION_ATTRIBUTE, operation)  # read back by operation_of()
            self.route(method.upper(), path)(handler)
            return handler

        return register


OPERATION_ATTRIBUTE = "conveyor_operation"


def operation_of(request: web.Request) -> Operation | None:
    """The Operation of the route that matched ``request`` (None for aiohttp's own answers)."""
    operation: Operation | None = getattr(request.match_info.handler, OPERATION_ATTRIBUTE, None)
    return operation


def read_query(request: web.Request, model: type[ModelT]) -> ModelT:
    """The query string validated as ``model``: 422 naming each bad parameter."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        msg = "invalid query parameter"
        raise unprocessable(msg, field_errors(exc)) from exc
