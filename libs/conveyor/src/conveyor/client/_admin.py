"""Schedules and dead letters, through the ingest API only (they need its admin routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from conveyor.client._plans import Plan
from conveyor.errors import ConfigurationError, ConflictError, NotFoundError

SCHEDULES = "/api/v1/schedules"
DEAD = "/api/v1/dead-letters"


def _call(
    http: bool, method: str, path: str, params: dict[str, str] | None = None, body: Any = None
) -> Plan[Any]:
    if not http:
        msg = "schedules and dead letters go through the ingest API: use an http(s):// URL"
        raise ConfigurationError(msg)
    from conveyor.client._http import HttpCore

    return HttpCore().call(method, path, params, body)


def _one(definition: dict[str, Any]) -> str:
    """The path of the schedule ``definition`` names (its ``id`` is required)."""
    schedule_id = definition.get("id")
    if not isinstance(schedule_id, str):
        msg = "a schedule definition needs an 'id' (a string)"
        raise TypeError(msg)
    return f"{SCHEDULES}/{quote(schedule_id, safe='')}"


UPSERT_TRIES = 3  # put(): PUT, else POST; a concurrent create or delete makes it go round


def _params(**values: object) -> dict[str, str]:
    return {name: str(value) for name, value in values.items() if value is not None}


def _fires(schedule: dict[str, Any]) -> list[datetime]:
    return [datetime.fromisoformat(text) for text in schedule.get("next_fires", [])]


def _letter_path(queue: str, entry_id: str) -> str:
    return f"{DEAD}/{quote(queue, safe='')}/{quote(entry_id, safe='')}"


def _purge_params(queue: str | None, partition: int | None, all_queues: bool) -> dict[str, str]:
    if all_queues:
        return _params(all="true", partition=partition)
    return _params(queue=queue, partition=partition)


def _filter_body(queue: str, type: str | None, reason: str | None, limit: int) -> dict[str, Any]:
    body: dict[str, Any] = {"queue": queue, "limit": limit}
    body.update({k: v for k, v in (("type", type), ("reason", reason)) if v is not None})
    return body


class Schedules:
    """Cron and interval schedules (``client.schedules``): the API's definitions."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    def create(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Create a schedule; ConflictError when one with its ``id`` exists."""
        _one(definition)
        return dict(self._runner.run(_call(self._http, "POST", SCHEDULES, body=definition)))

    def replace(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Replace an existing schedule whole; NotFoundError when there is none."""
        path = _one(definition)
        return dict(self._runner.run(_call(self._http, "PUT", path, body=definition)))

    def put(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Create the schedule, or replace the one with its ``id``."""
        for _ in range(UPSERT_TRIES - 1):
            try:
                return self.replace(definition)
            except NotFoundError:
                pass
            try:
                return self.create(definition)
            except ConflictError:
                pass  # created meanwhile: replace it
        return self.replace(definition)

    def get(self, schedule_id: str) -> dict[str, Any]:
        """One applied schedule, with its next fire times."""
        path = f"{SCHEDULES}/{quote(schedule_id, safe='')}"
        return dict(self._runner.run(_call(self._http, "GET", path)))

    def delete(self, schedule_id: str) -> None:
        """Delete a schedule."""
        self._runner.run(_call(self._http, "DELETE", f"{SCHEDULES}/{quote(schedule_id, safe='')}"))

    def next_fires(self, schedule_id: str) -> list[datetime]:
        """When the schedule fires next."""
        return _fires(self.get(schedule_id))

    def list(self) -> list[dict[str, Any]]:
        """Every applied schedule."""
        return list(self._runner.run(_call(self._http, "GET", SCHEDULES))["items"])


class DeadLetters:
    """Dead letters (``client.dead_letters``): list, replay, purge. Admin scope."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    def list(
        self, queue: str = "default", *, partition: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """A queue's dead letters, newest first."""
        params = _params(queue=queue, partition=partition, limit=limit)
        return list(self._runner.run(_call(self._http, "GET", DEAD, params))["items"])

    def replay(self, queue: str, entry_id: str, *, partition: int | None = None) -> dict[str, Any]:
        """Replay one dead letter as a new task; replaying it again returns the same task."""
        path = f"{DEAD}/{quote(queue, safe='')}/{entry_id}/replay"
        return dict(self._runner.run(_call(self._http, "POST", path, _params(partition=partition))))

    def purge(
        self, queue: str = "default", *, partition: int | None = None, all_queues: bool = False
    ) -> int:
        """Delete a queue's (or, ``all_queues``, every queue's) dead letters; how many."""
        params = _purge_params(queue, partition, all_queues)
        return int(self._runner.run(_call(self._http, "DELETE", DEAD, params))["deleted"])

    def page(
        self,
        queue: str = "default",
        *,
        partition: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of a partition's dead letters, newest first: ``items``, ``next_cursor``."""
        params = _params(queue=queue, partition=partition, limit=limit, cursor=cursor)
        return dict(self._runner.run(_call(self._http, "GET", DEAD, params)))

    def get(self, queue: str, entry_id: str, *, partition: int | None = None) -> dict[str, Any]:
        """One dead letter, with its task's fields."""
        path = _letter_path(queue, entry_id)
        return dict(self._runner.run(_call(self._http, "GET", path, _params(partition=partition))))

    def delete(self, queue: str, entry_id: str, *, partition: int | None = None) -> None:
        """Delete one dead letter (NotFoundError when it is gone)."""
        path = _letter_path(queue, entry_id)
        self._runner.run(_call(self._http, "DELETE", path, _params(partition=partition)))

    def replay_matching(
        self,
        queue: str = "default",
        *,
        type: str | None = None,
        reason: str | None = None,
        limit: int = 100,
        partition: int | None = None,
    ) -> dict[str, Any]:
        """Replay up to ``limit`` matching dead letters, oldest first, in one request:
        ``replayed`` (each replay's answer) and ``skipped_undecodable``."""
        body = _filter_body(queue, type, reason, limit)
        plan = _call(self._http, "POST", f"{DEAD}/replay", _params(partition=partition), body)
        return dict(self._runner.run(plan))


class AsyncSchedules:
    """``Schedules`` for the asyncio client."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    async def create(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Create a schedule; ConflictError when one with its ``id`` exists."""
        _one(definition)
        return dict(await self._runner.run(_call(self._http, "POST", SCHEDULES, body=definition)))

    async def replace(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Replace an existing schedule whole; NotFoundError when there is none."""
        path = _one(definition)
        return dict(await self._runner.run(_call(self._http, "PUT", path, body=definition)))

    async def put(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Create the schedule, or replace the one with its ``id``."""
        for _ in range(UPSERT_TRIES - 1):
            try:
                return await self.replace(definition)
            except NotFoundError:
                pass
            try:
                return await self.create(definition)
            except ConflictError:
                pass  # created meanwhile: replace it
        return await self.replace(definition)

    async def get(self, schedule_id: str) -> dict[str, Any]:
        """One applied schedule, with its next fire times."""
        path = f"{SCHEDULES}/{quote(schedule_id, safe='')}"
        return dict(await self._runner.run(_call(self._http, "GET", path)))

    async def delete(self, schedule_id: str) -> None:
        """Delete a schedule."""
        path = f"{SCHEDULES}/{quote(schedule_id, safe='')}"
        await self._runner.run(_call(self._http, "DELETE", path))

    async def next_fires(self, schedule_id: str) -> list[datetime]:
        """When the schedule fires next."""
        return _fires(await self.get(schedule_id))

    async def list(self) -> list[dict[str, Any]]:
        """Every applied schedule."""
        return list((await self._runner.run(_call(self._http, "GET", SCHEDULES)))["items"])


class AsyncDeadLetters:
    """``DeadLetters`` for the asyncio client."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    async def list(
        self, queue: str = "default", *, partition: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """A queue's dead letters, newest first."""
        params = _params(queue=queue, partition=partition, limit=limit)
        return list((await self._runner.run(_call(self._http, "GET", DEAD, params)))["items"])

    async def replay(
        self, queue: str, entry_id: str, *, partition: int | None = None
    ) -> dict[str, Any]:
        """Replay one dead letter as a new task; replaying it again returns the same task."""
        path = f"{DEAD}/{quote(queue, safe='')}/{entry_id}/replay"
        params = _params(partition=partition)
        return dict(await self._runner.run(_call(self._http, "POST", path, params)))

    async def purge(
        self, queue: str = "default", *, partition: int | None = None, all_queues: bool = False
    ) -> int:
        """Delete a queue's (or, ``all_queues``, every queue's) dead letters; how many."""
        params = _purge_params(queue, partition, all_queues)
        return int((await self._runner.run(_call(self._http, "DELETE", DEAD, params)))["deleted"])

    async def page(
        self,
        queue: str = "default",
        *,
        partition: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of a partition's dead letters, newest first: ``items``, ``next_cursor``."""
        params = _params(queue=queue, partition=partition, limit=limit, cursor=cursor)
        return dict(await self._runner.run(_call(self._http, "GET", DEAD, params)))

    async def get(
        self, queue: str, entry_id: str, *, partition: int | None = None
    ) -> dict[str, Any]:
        """One dead letter, with its task's fields."""
        plan = _call(self._http, "GET", _letter_path(queue, entry_id), _params(partition=partition))
        return dict(await self._runner.run(plan))

    async def delete(self, queue: str, entry_id: str, *, partition: int | None = None) -> None:
        """Delete one dead letter (NotFoundError when it is gone)."""
        path = _letter_path(queue, entry_id)
        await self._runner.run(_call(self._http, "DELETE", path, _params(partition=partition)))

    async def replay_matching(
        self,
        queue: str = "default",
        *,
        type: str | None = None,
        reason: str | None = None,
        limit: int = 100,
        partition: int | None = None,
    ) -> dict[str, Any]:
        """Replay up to ``limit`` matching dead letters, oldest first, in one request."""
        body = _filter_body(queue, type, reason, limit)
        plan = _call(self._http, "POST", f"{DEAD}/replay", _params(partition=partition), body)
        return dict(await self._runner.run(plan))
