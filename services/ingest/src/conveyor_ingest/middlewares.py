"""Middlewares: request id + audit log + error envelope, in one place.

Every response leaves as ``{"code", "message", "data"}``: ApiError, aiohttp's own
HTTP errors (404, 405 with its Allow header, 413 from the body size limit) and Redis
being unreachable (503 with Retry-After) are mapped here; anything unexpected is a
logged 500. A body whose Content-Type the route's Operation does not accept is a 415
before the handler runs.
"""

from __future__ import annotations

import re
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from opentelemetry.trace import Span

from conveyor.connection import TRANSIENT_ERRORS
from conveyor.dataset import DatasetResetError
from conveyor.ids import random_hex
from conveyor.logging import InfoLine
from conveyor.telemetry.http import server_span, set_status_code
from conveyor_ingest.context import ACTION, PRINCIPAL, Services, services
from conveyor_ingest.deadline import DeadlineExceededError, answer_within
from conveyor_ingest.operations import operation_of
from conveyor_ingest.responses import ApiError, error_response

log = structlog.get_logger("conveyor_ingest.audit")
# The audit line, rendered without structlog's processor chain when JSON logging is on
# (byte-identical: tests/unit pin it against the chain).
audit_line = InfoLine(
    log,
    "request_handled",
    ("request_id", "subject", "action", "method", "route", "status", "latency_ms"),
)

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id, answer errors as envelopes, write one audit line.

    All of it runs inside the request's SERVER span, so the audit line carries
    its trace_id and span_id.
    """
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    svc = services(request)
    if not svc.tracing:  # no SDK provider: not even a no-op span per request
        return await _handle(request, handler, route_name, svc, None)
    with server_span(request.method, route_name, request.path, request.headers) as span:
        return await _handle(request, handler, route_name, svc, span)


async def _handle(
    request: web.Request, handler: Handler, route_name: str, svc: Services, span: Span | None
) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    # 32 random hex digits, as uuid4().hex was, without building a UUID or a syscall.
    request_id = incoming if REQUEST_ID.match(incoming) else random_hex(16)
    started = time.perf_counter()
    if span is not None and span.is_recording():
        span.set_attribute("conveyor.request_id", request_id)
    try:
        check_content_type(request)
        response = await answer_within(svc.settings.request_timeout, request, handler)
    except Exception as exc:  # every failure leaves as an envelope (or is re-raised)
        response = _error_response(request, exc)
    status = response.status
    if span is not None:
        set_status_code(span, status)
    if not response.prepared:  # a streamed response (SSE) has sent its headers already
        response.headers["X-Request-ID"] = request_id
    latency = time.perf_counter() - started
    svc.metrics.observe_request(route_name, status, latency)
    if route_name in ENQUEUE_ROUTES and request.method == "POST":
        reason = rejection_reason(response)
        if reason is not None:
            svc.metrics.rejected.labels(reason).inc()
    principal = request.get(PRINCIPAL)
    audit_line(
        request_id,
        principal.subject if principal else None,
        request.get(ACTION) or f"{request.method} {route_name}",
        request.method,
        route_name,
        status,
        round(latency * 1000, 3),
    )
    return response


# Routes that enqueue tasks, and why one of their requests enqueued nothing.
ENQUEUE_ROUTES = frozenset(
    {
        "/api/v1/tasks",
        "/api/v1/tasks/batch",
        "/api/v1/events",
        "/api/v1/dead-letters/replay",
        "/api/v1/dead-letters/{queue}/{entry_id}/replay",
    }
)
CLIENT_CLOSED = 499  # nginx's "client closed request"
_REJECTED = {
    401: "auth",
    403: "auth",
    429: "rate_limit",
    CLIENT_CLOSED: "disconnected",
    503: "shed",
}


def rejection_reason(response: web.StreamResponse) -> str | None:
    """Why an enqueue request wrote nothing (a bounded label value), None if it wrote."""
    if response.headers.get("Idempotent-Replayed") == "true":
        return "idempotent_replay"
    if response.status < 400:
        return None
    if response.status in _REJECTED:
        return _REJECTED[response.status]
    return "validation" if response.status < 500 else "error"


def check_content_type(request: web.Request) -> None:
    """415 unless the route reads no body or accepts the request's Content-Type."""
    operation = operation_of(request)
    if operation is None or operation.request is None:
        return
    content_type = request.content_type  # application/octet-stream when none was sent
    if content_type in operation.body_types:
        return  # the common case, without the general match (~0.7 us of a POST)
    if not operation.accepts(content_type):
        sent = request.headers.get("Content-Type", "none")
        accepted = ", ".join(operation.body_types + operation.also_accepts)
        raise ApiError(415, f"send the body as {accepted} (Content-Type was {sent})")


def _error_response(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The envelope answering ``exc``; re-raises what must not be answered."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, web.HTTPException):
        return _http_error(request, exc)
    if isinstance(exc, ConnectionResetError):
        # Nobody is left to read an answer: one line, and nginx's 499 for the audit line
        # and metrics (raising it on would have aiohttp log a traceback).
        log.info("client_disconnected")
        return error_response(ApiError(CLIENT_CLOSED, "the client closed the connection"))
    if isinstance(exc, DatasetResetError):
        log.error("request_refused_dataset_reset", error=str(exc))
        return error_response(ApiError(503, str(exc), headers={"Retry-After": "5"}))
    if isinstance(exc, DeadlineExceededError):  # its message says whether it may exist
        log.warning("request_deadline_exceeded", error=str(exc))
        return error_response(ApiError(503, str(exc), headers={"Retry-After": "1"}))
    if isinstance(exc, TRANSIENT_ERRORS):
        log.warning("redis_unavailable", error=str(exc))
        headers = {"Retry-After": "1"}
        return error_response(ApiError(503, "storage unavailable; retry later", headers=headers))
    log.error("request_failed", exc_info=exc)
    return error_response(ApiError(500, "internal error"))


def _http_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    """aiohttp's own HTTP errors as envelopes, with their headers (Allow on a 405)."""
    if exc.status < 400:
        raise exc  # a redirect, or a 2xx raised as an exception
    message = exc.reason
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    elif isinstance(exc, web.HTTPNotFound):
        message = f"no route {request.path}; the routes are listed at /api/v1/openapi.json"
    elif exc.status == 413:
        message = f"request body exceeds {request.app[_LIMIT]} bytes"
    kept = {name: value for name, value in exc.headers.items() if name not in _OWN_HEADERS}
    return error_response(ApiError(exc.status, message, headers=kept))


_OWN_HEADERS = frozenset({"Content-Type", "Content-Length"})
_LIMIT: web.AppKey[int] = web.AppKey("max_body_bytes", int)


def set_body_limit(app: web.Application, limit: int) -> None:
    """Record the body limit for the 413 message."""
    app[_LIMIT] = limit
