"""A small web app that hands work to Conveyor through the client and shows the result.

    CONVEYOR_URL=http://127.0.0.1:8080 CONVEYOR_TOKEN=... python examples/webapp/app.py
    CONVEYOR_URL=redis://127.0.0.1:6379/0 python examples/webapp/app.py   # straight to Redis

Then open http://127.0.0.1:8000/, type a message: the app enqueues a ``demo.echo``
task (run by the worker's example handlers) and shows its result. Needs aiohttp
(the ingest service's web framework) besides ``conveyor-tasks``.
"""

from __future__ import annotations

import html
import os
from collections.abc import AsyncIterator

from aiohttp import web

from conveyor import AsyncClient
from conveyor.errors import ConveyorError, NotFoundError

CLIENT: web.AppKey[AsyncClient] = web.AppKey("client", AsyncClient)
PAGE = """<!doctype html><title>Conveyor example</title>
<h1>Echo through Conveyor</h1>
<form method="post" action="/echo"><input name="message" autofocus> <button>Send</button></form>
{body}"""


async def client_context(app: web.Application) -> AsyncIterator[None]:
    """One client for the app's lifetime (CONVEYOR_URL / CONVEYOR_TOKEN)."""
    async with AsyncClient() as client:
        app[CLIENT] = client
        yield


async def index(request: web.Request) -> web.Response:
    """The form."""
    return web.Response(text=PAGE.format(body=""), content_type="text/html")


async def echo(request: web.Request) -> web.Response:
    """Enqueue the message and send the browser to the task's page."""
    form = await request.post()
    message = str(form.get("message", ""))
    ref = await request.app[CLIENT].enqueue("demo.echo", {"message": message})
    raise web.HTTPSeeOther(f"/tasks/{ref.id}")


async def task(request: web.Request) -> web.Response:
    """The task's status, and its result once it has one (waits up to 5 s)."""
    try:
        view = await request.app[CLIENT].wait(request.match_info["task_id"], timeout=5)
    except NotFoundError:
        raise web.HTTPNotFound(text="no such task") from None
    except ConveyorError as exc:
        raise web.HTTPBadGateway(text=f"Conveyor: {exc}") from exc
    shown = f"<p>Task <code>{view.id}</code> is <b>{view.status}</b>.</p>"
    if view.done:
        shown += f"<p>Result: <code>{html.escape(repr(view.result))}</code></p>"
    return web.Response(text=PAGE.format(body=shown), content_type="text/html")


def create_app() -> web.Application:
    """The example app."""
    app = web.Application()
    app.cleanup_ctx.append(client_context)
    app.add_routes(
        [web.get("/", index), web.post("/echo", echo), web.get("/tasks/{task_id}", task)]
    )
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
