"""The HTTP transport: the ingest API with a bearer token, through httpx.

The plans build requests and read the API's envelope ``{"code", "message", "data"}``;
an error answer becomes the :mod:`conveyor.errors` class of its status, with the
envelope's message and field errors kept. Ingest adds what the direct transport
does not: authentication, per-client rate limits (429) and backlog shedding (503).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx

from conveyor.client._plans import HttpCall, HttpReply, Plan, Sleep, finish
from conveyor.client._views import Accepted, TaskItem, TaskView
from conveyor.errors import (
    AuthenticationError,
    ConflictError,
    InvalidTaskError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    RequestError,
    ServiceUnavailableError,
)

T = TypeVar("T")
TASKS = "/api/v1/tasks"
MAX_SERVER_WAIT = 60  # ingest's default CONVEYOR_INGEST_MAX_WAIT; it clamps larger values
POLL_S = 0.05
_ERRORS: dict[int, type[RequestError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidTaskError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def api_error(reply: HttpReply) -> RequestError:
    """The typed error of an error answer, with the envelope's message and field errors."""
    try:
        envelope = json.loads(reply.body)
        message = str(envelope["message"])
        errors = envelope.get("errors") or []
    except (ValueError, KeyError, TypeError):
        message = reply.body.decode(errors="replace")[:500] or f"HTTP {reply.status}"
        errors = []
    kind = _ERRORS.get(reply.status, RequestError)
    error = kind(message, errors, status=reply.status)
    if isinstance(error, RateLimitedError) and reply.retry_after:
        error.retry_after = float(reply.retry_after)
    return error


def _data(reply: HttpReply) -> Any:
    if reply.status >= 400:
        raise api_error(reply)
    return json.loads(reply.body)["data"]


def _task_path(task_id: str) -> str:
    return f"{TASKS}/{quote(task_id, safe='')}"


@dataclass(frozen=True, slots=True)
class HttpCore:
    """The client's operations as plans of API requests."""

    def call(
        self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None
    ) -> Plan[Any]:
        """Any API request; its ``data``."""
        return _data((yield HttpCall(method, path, params or {}, body)))

    def enqueue(self, items: Sequence[TaskItem], key: str | None) -> Plan[list[Accepted]]:
        """POST /tasks (one task) or /tasks/batch (atomic per queue partition)."""
        headers = {} if key is None else {"Idempotency-Key": key}
        if len(items) == 1:
            data = _data((yield HttpCall("POST", TASKS, json=items[0].body(), headers=headers)))
            return [Accepted.from_api(data)]
        body = {"tasks": [item.body() for item in items]}
        data = _data((yield HttpCall("POST", f"{TASKS}/batch", json=body, headers=headers)))
        return [Accepted.from_api(item) for item in data["items"]]

    def get(self, task_id: str) -> Plan[TaskView]:
        """GET /tasks/{id}."""
        return TaskView.from_api(_data((yield HttpCall("GET", _task_path(task_id)))))

    def wait(self, task_id: str, timeout: float) -> Plan[TaskView]:
        """GET /tasks/{id}?wait=S until the task is finished or ``timeout`` s have passed."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            held = int(min(max(left, 0), MAX_SERVER_WAIT))
            asked = HttpCall("GET", _task_path(task_id), {"wait": str(held)}, timeout=held + 30.0)
            task = TaskView.from_api(_data((yield asked)))
            left = deadline - time.monotonic()
            if task.done or left <= 0:
                return task
            if left < 1:  # the server waits in whole seconds: poll the rest
                yield Sleep(min(POLL_S, left))

    def cancel(self, task_id: str) -> Plan[None]:
        """DELETE /tasks/{id}."""
        _data((yield HttpCall("DELETE", _task_path(task_id))))

    def change(self, task_id: str, given: dict[str, Any]) -> Plan[int]:
        """PUT /tasks/{id}; the task's new revision."""
        body = {k: (v.isoformat() if k == "run_at" and v else v) for k, v in given.items()}
        data = _data((yield HttpCall("PUT", _task_path(task_id), json=body)))
        return int(data["revision"])


def _reply(response: httpx.Response) -> HttpReply:
    return HttpReply(response.status_code, response.content, response.headers.get("Retry-After"))


def _unreachable(exc: Exception) -> ServiceUnavailableError:
    msg = f"cannot reach the Conveyor API: {exc}"
    return ServiceUnavailableError(msg)


class BlockingHttpRunner:
    """Runs plans on a blocking httpx client (one kept-alive connection pool)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def run(self, plan: Plan[T]) -> T:
        """Execute every step of ``plan``; its result."""
        step, result, done = finish(plan, None)
        while not done:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                step, result, done = finish(plan, None)
                continue
            try:
                response = self.client.request(
                    step.method,
                    step.path,
                    params=step.params,
                    json=step.json,
                    headers=step.headers,
                    timeout=httpx.USE_CLIENT_DEFAULT if step.timeout is None else step.timeout,
                )
            except httpx.TransportError as exc:
                raise _unreachable(exc) from exc
            step, result, done = finish(plan, _reply(response))
        return cast(T, result)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


class AsyncHttpRunner:
    """Runs plans on an asyncio httpx client (one kept-alive connection pool)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def run(self, plan: Plan[T]) -> T:
        """Execute every step of ``plan``; its result."""
        step, result, done = finish(plan, None)
        while not done:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                step, result, done = finish(plan, None)
                continue
            try:
                response = await self.client.request(
                    step.method,
                    step.path,
                    params=step.params,
                    json=step.json,
                    headers=step.headers,
                    timeout=httpx.USE_CLIENT_DEFAULT if step.timeout is None else step.timeout,
                )
            except httpx.TransportError as exc:
                raise _unreachable(exc) from exc
            step, result, done = finish(plan, _reply(response))
        return cast(T, result)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
