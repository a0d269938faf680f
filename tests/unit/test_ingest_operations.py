"""Operation declarations: paths, content types, and a route without one refused."""

from __future__ import annotations

import pytest
from aiohttp import web

from conveyor_ingest.models import TaskRequest
from conveyor_ingest.openapi import install
from conveyor_ingest.operations import ApiRoutes, Operation

routes = ApiRoutes()


@routes.operation("GET", "/things/{name:[a-z]{1,8}}/{rest}")
async def get_thing(_request: web.Request) -> web.Response:
    """Read a thing.

    Longer words.
    """
    return web.Response()


def test_a_declaration_carries_path_patterns_summary_and_description() -> None:
    (operation,) = routes.operations
    assert operation.template == "/things/{name}/{rest}"
    assert dict(operation.path_patterns) == {"name": "[a-z]{1,8}", "rest": "[^/]+"}
    assert (operation.summary, operation.description) == ("Read a thing.", "Longer words.")
    assert operation.operation_id == "get_thing"
    assert operation.error_statuses() == (401, 403, 404, 503)


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/cloudevents+json", True),
        ("application/json", True),
        ("application/vnd.acme+json", True),
        ("text/plain", False),
        ("application/octet-stream", False),
        ("text/json+json", False),
    ],
)
def test_content_types_match_exactly_or_by_a_structured_suffix(
    content_type: str, accepted: bool
) -> None:
    operation = Operation(
        method="post",
        path="/x",
        operation_id="x",
        summary="x",
        description="",
        request=TaskRequest,
        body_types=("application/cloudevents+json",),
        also_accepts=("application/json", "application/*+json"),
    )
    assert operation.accepts(content_type) is accepted


def test_an_app_with_an_undeclared_route_is_refused() -> None:
    app = web.Application()
    app.router.add_routes(routes)

    async def bare(_request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/bare", bare)
    with pytest.raises(RuntimeError, match=r"GET .*/bare.* has no Operation"):
        install(app)
