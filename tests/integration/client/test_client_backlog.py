"""A 503 from ingest's backlog shedding is a ServiceUnavailableError; Redis-direct has none."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import AsyncClient
from conveyor.errors import ServiceUnavailableError
from waiting import wait_for


@pytest.fixture
def ingest_overrides() -> dict[str, Any]:
    """A backlog of one task is already too much."""
    return {"max_backlog": 1}


async def test_a_full_queue_sheds_http_producers_only(
    hclient: AsyncClient, aclient: AsyncClient
) -> None:
    async def shed() -> bool:
        try:
            await hclient.enqueue("demo.echo", 1)
        except ServiceUnavailableError as exc:
            return "overloaded" in exc.message
        return False

    assert await wait_for(shed, within=30, what="ingest to shed load")
    # The direct path has no backlog shedding (docs/client.md says so).
    await aclient.enqueue("demo.echo", 2)
