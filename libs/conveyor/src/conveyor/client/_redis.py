"""Runners of direct plans: a blocking and an asyncio redis-py client execute the steps."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, TypeVar, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.client._plans import Plan, ReadRecord, Sleep, finish
from conveyor.errors import RedisUnavailableError
from conveyor.lua import script_sha, script_text
from conveyor.producing.writes import ScriptCall
from conveyor.records import ask_any_record, found_record

if TYPE_CHECKING:
    import redis
    import redis.asyncio

T = TypeVar("T")
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class BlockingRunner:
    """Runs plans on a blocking client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def run(self, plan: Plan[T]) -> T:
        """Execute every step of ``plan``; its result."""
        step, result, done = finish(plan, None)
        try:
            while not done:
                step, result, done = finish(plan, self._execute(step))
        except _UNREACHABLE as exc:
            msg = f"cannot reach Redis: {exc}"
            raise RedisUnavailableError(msg) from exc
        return cast(T, result)

    def _execute(self, step: Any) -> Any:
        if isinstance(step, ScriptCall):
            sha, keys = script_sha(step.script), step.keys
            try:
                return self.client.evalsha(sha, len(keys), *keys, *step.args)
            except NoScriptError:  # first use on this server (or after a SCRIPT FLUSH)
                self.client.script_load(script_text(step.script))
                return self.client.evalsha(sha, len(keys), *keys, *step.args)
        if isinstance(step, ReadRecord):
            with self.client.pipeline(transaction=False) as pipe:
                if not ask_any_record(pipe, step.shards, step.task_id):
                    return None
                return found_record(step.shards, step.task_id, pipe.execute())
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        raise TypeError(step)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


class AsyncRunner:
    """Runs plans on an asyncio client."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def run(self, plan: Plan[T]) -> T:
        """Execute every step of ``plan``; its result."""
        step, result, done = finish(plan, None)
        try:
            while not done:
                step, result, done = finish(plan, await self._execute(step))
        except _UNREACHABLE as exc:
            msg = f"cannot reach Redis: {exc}"
            raise RedisUnavailableError(msg) from exc
        return cast(T, result)

    async def _execute(self, step: Any) -> Any:
        if isinstance(step, ScriptCall):
            sha, keys = script_sha(step.script), step.keys
            try:
                return await self.client.evalsha(sha, len(keys), *keys, *step.args)
            except NoScriptError:  # first use on this server (or after a SCRIPT FLUSH)
                await self.client.script_load(script_text(step.script))
                return await self.client.evalsha(sha, len(keys), *keys, *step.args)
        if isinstance(step, ReadRecord):
            async with self.client.pipeline(transaction=False) as pipe:
                if not ask_any_record(pipe, step.shards, step.task_id):
                    return None
                return found_record(step.shards, step.task_id, await pipe.execute())
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            return None
        raise TypeError(step)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()
