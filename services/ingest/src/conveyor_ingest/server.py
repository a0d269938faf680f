"""The HTTP server: aiohttp's, with its own parser errors answered as envelopes.

aiohttp answers a request it cannot parse (a control character in a header, a
header line over 8190 bytes, a malformed request line) from its protocol handler,
before any middleware: a text/plain 400 and a logged traceback. It has no hook for
these (aio-libs/aiohttp#3287, #6463); ``RequestHandler.handle_error`` builds them.
``ApiRunner`` serves the app with a handler whose ``handle_error`` answers the
envelope and logs one line. tests/integration/ingest pins it, so an aiohttp upgrade
that moves this path fails there, not in production.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from conveyor_ingest.responses import ApiError, error_response

log = structlog.get_logger("conveyor_ingest.server")


class ApiRunner(web.AppRunner):
    """An AppRunner whose connections answer parser errors as envelopes."""

    async def _make_server(self) -> web.Server:  # the runner's documented extension point
        server = await super()._make_server()
        server.__class__ = _EnvelopeServer  # same state; only __call__ differs
        return server


class _EnvelopeServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        handler = super().__call__()
        handler.__class__ = _EnvelopeRequestHandler  # same slots; only handle_error differs
        return handler


class _EnvelopeRequestHandler(web.RequestHandler):
    __slots__ = ()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The envelope of a request aiohttp could not parse."""
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)  # a bug: its traceback
        text = parse_problem(exc)
        log.info("request_unparsable", status=status, error=text)
        response = error_response(ApiError(status, text))
        response.force_close()  # the stream's framing is lost
        return response


def parse_problem(exc: BaseException | None) -> str:
    """What was wrong with a request aiohttp could not parse, and what to fix."""
    if isinstance(exc, LineTooLong):
        return "a header or the request line is too long (at most 8190 bytes each)"
    if isinstance(exc, HttpProcessingError) and exc.message:
        return f"malformed HTTP request: {exc.message}; send printable header values"
    return "malformed HTTP request"
