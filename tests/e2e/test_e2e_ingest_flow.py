"""End to end: ingest, worker and scheduler as real processes; tasks go in over HTTP and
come out succeeded, read back through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from conveyor.keys import Keys
from e2e.e2e_harness import api_session, final_state, post_task, running_services


@pytest.fixture
async def http(redis_url: str, keys: Keys, tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    """The three services on the test server under the test's key prefix, and a client."""
    env = {"CONVEYOR_KEY_PREFIX": keys.prefix, "CONVEYOR_LOG_LEVEL": "WARNING"}
    with running_services(tmp_path, redis_url, env) as deployment:
        async with api_session(deployment) as session:
            yield session


async def test_posted_echo_task_succeeds_and_is_read_back(http: aiohttp.ClientSession) -> None:
    task_id = await post_task(http, {"type": "demo.echo", "payload": {"hello": "world"}})
    delayed_id = await post_task(http, {"type": "demo.echo", "payload": "later", "delay": 1})
    done = await final_state(http, task_id)
    assert done["status"] == "succeeded"
    assert done["result"] == {"hello": "world"}
    assert done["attempts"] == 1
    later = await final_state(http, delayed_id)
    assert later["status"] == "succeeded"
    assert later["result"] == "later"
