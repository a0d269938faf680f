"""A 429 from ingest's rate limit is a RateLimitedError with the Retry-After it sent."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import AsyncClient
from conveyor.errors import RateLimitedError


@pytest.fixture
def ingest_overrides() -> dict[str, Any]:
    """One request, then a long wait: the second request is refused."""
    return {"rate_limit": 0.01, "rate_burst": 1}


async def test_the_second_request_is_rate_limited(hclient: AsyncClient) -> None:
    await hclient.enqueue("demo.echo", 1)
    with pytest.raises(RateLimitedError, match="rate limit") as caught:
        await hclient.enqueue("demo.echo", 2)
    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0
