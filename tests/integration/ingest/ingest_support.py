"""Helpers of the ingest API tests: tokens and the Api handle (imported by tests)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import jwt
from aiohttp import ClientResponse
from aiohttp.connector import Connection
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor import jsoncodec
from conveyor.keys import Keys
from conveyor_ingest.settings import IngestSettings
from waiting import wait_for

T = TypeVar("T")

SECRET = "test-secret-of-sufficient-length-for-hs256"
QUEUES = ("default", "other")


def make_token(sub: str = "alice", scope: str = "tasks:write tasks:read", **claims: Any) -> str:
    """An HS256 token signed with the test secret."""
    now = int(time.time())
    body = {"sub": sub, "scope": scope, "iss": "conveyor", "aud": "conveyor", "exp": now + 600}
    body.update(claims)
    return jwt.encode(body, SECRET, algorithm="HS256")


def auth(token: str | None = None, **claims: Any) -> dict[str, str]:
    """Authorization header for ``token`` (default: a fresh alice token)."""
    return {"Authorization": f"Bearer {token or make_token(**claims)}"}


class StrictJsonResponse(ClientResponse):
    """A response whose JSON body is parsed by RFC 8259's rules as soon as it arrives.

    The API must never answer NaN or Infinity (``JSON.parse`` refuses the whole body):
    any test that receives one fails here, with the path to the number.
    """

    async def start(self, connection: Connection) -> ClientResponse:
        """Receive the head, then read and strictly parse a JSON body."""
        response = await super().start(connection)
        if self.content_type.endswith("json"):
            body = await self.read()
            if body:
                jsoncodec.loads(body)
        return response


@dataclass
class Api:
    """A running ingest app and what the tests need around it."""

    client: TestClient[Any, Any]
    redis: Redis
    keys: Keys
    settings: IngestSettings


def ingest_settings(**overrides: Any) -> IngestSettings:
    """Test settings: known secret, everything else default unless overridden."""
    values: dict[str, Any] = {"jwt_secret": SECRET}
    values.update(overrides)
    return IngestSettings(**values)


async def entries(redis: Redis, stream: str) -> list[tuple[str, dict[bytes, bytes]]]:
    """Every entry of ``stream`` as (id, fields)."""
    reply: Any = await redis.xrange(stream)
    return [(entry_id.decode(), dict(fields)) for entry_id, fields in reply]


async def post_task(api: Api, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    """POST /api/v1/tasks as alice; (status, JSON body)."""
    response = await api.client.post("/api/v1/tasks", json=body, headers={**auth(), **headers})
    return response.status, await response.json()


async def get_json(api: Api, path: str, token: str | None = None) -> tuple[int, Any]:
    """GET ``path``; (status, JSON body)."""
    response = await api.client.get(path, headers=auth(token))
    return response.status, await response.json()


async def until(probe: Callable[[], Awaitable[T]], what: str, within: float = 30.0) -> T:
    """tests/waiting.wait_for with a typed async probe and a generous deadline."""
    # Typed wrapper: mypy cannot infer T from wait_for's `Awaitable[T] | T` for an async probe.
    result: object = await wait_for(probe, within=within, what=what)
    return cast(T, result)
