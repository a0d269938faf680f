"""The operator dashboard: its static page (GET /dashboard) and its live stream.

The page, script and style ship inside this package (static/dashboard) and need no
auth: they hold no data. Every figure the page shows comes from the admin API with the
token the operator enters (docs/dashboard.md). ``GET /api/v1/stream/overview`` pushes
the overview as server-sent events to each connected dashboard from one shared
computation (overview.py); it ends after CONVEYOR_INGEST_MAX_WAIT and the page
reconnects, so no connection outlives a deploy by long.
"""

from __future__ import annotations

import asyncio
import time
from functools import cache
from importlib import resources

from aiohttp import web

from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, services
from conveyor_ingest.operations import ApiRoutes
from conveyor_ingest.operator_models import Overview
from conveyor_ingest.overview import OVERVIEW

routes = ApiRoutes()

# The page loads only its own script and style and talks only to this origin.
STATIC_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def asset(name: str) -> bytes:
    """A file of static/dashboard, read once."""
    package = resources.files("conveyor_ingest")
    return package.joinpath("static", "dashboard", name).read_bytes()


def _static(name: str, content_type: str) -> web.Response:
    return web.Response(body=asset(name), content_type=content_type, headers=STATIC_HEADERS)


@routes.operation("GET", "/dashboard", media_type="text/html", auth=False, redis=False)
async def dashboard_page(_request: web.Request) -> web.Response:
    """The operator dashboard (static page; its data needs an admin token)."""
    return _static("index.html", "text/html")


@routes.operation(
    "GET", "/dashboard/dashboard.js", media_type="text/javascript", auth=False, redis=False
)
async def dashboard_script(_request: web.Request) -> web.Response:
    """The dashboard's script."""
    return _static("dashboard.js", "text/javascript")


@routes.operation("GET", "/dashboard/dashboard.css", media_type="text/css", auth=False, redis=False)
async def dashboard_style(_request: web.Request) -> web.Response:
    """The dashboard's style sheet."""
    return _static("dashboard.css", "text/css")


@routes.operation(
    "GET", "/api/v1/stream/overview", media_type="text/event-stream", event="overview",
    response=Overview,
)  # fmt: skip
async def overview_stream(request: web.Request) -> web.StreamResponse:
    """Follow the overview (server-sent events).

    An ``event: overview`` with every queue's figures and the live workers about every
    2 s, computed once for all connected streams; it ends after
    CONVEYOR_INGEST_MAX_WAIT (reconnect to go on).
    """
    authorize(request, Scope.ADMIN, "overview.stream")
    hub = request.app[OVERVIEW]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    deadline = time.monotonic() + services(request).settings.max_wait
    subscription = hub.subscribe()
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    text = await subscription.get()
            except TimeoutError:
                break
            if not text:
                break  # the app is stopping
            await response.write(f"event: overview\ndata: {text}\n\n".encode())
        await response.write_eof()
    except ConnectionError:
        pass  # the dashboard went away (a reset or a closed transport)
    finally:
        hub.unsubscribe(subscription)
    return response
