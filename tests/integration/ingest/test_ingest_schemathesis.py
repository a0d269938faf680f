"""schemathesis over the served OpenAPI document: every check, bounded examples, no failure.

The app runs on a loopback port with a real Redis (the session server), and the
schemathesis CLI runs against its /api/v1/openapi.json with ``--checks all``, once
with a fixed seed and once with a random one (printed, to replay a failure).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.server import ApiRunner
from integration.ingest.ingest_support import ingest_settings, make_token

FIXED_SEED = 20261205
MAX_EXAMPLES = "6"
ADMIN = make_token(sub="schemathesis", scope="admin")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


class ServedApp:
    """The ingest app served from a thread of its own, on a loopback port."""

    def __init__(self, redis_settings: RedisSettings) -> None:
        self._redis_settings = redis_settings
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        from aiohttp import web

        # max_wait 1 s: generated ?wait= and event streams on real tasks end quickly.
        settings = ingest_settings(rate_limit=1e9, rate_burst=1_000_000_000, max_wait=1.0)
        runner = ApiRunner(create_app(settings, self._redis_settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> ServedApp:
        self._thread.start()
        assert self._started.wait(30), "the app did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def served(redis_settings: RedisSettings, request: pytest.FixtureRequest) -> Iterator[ServedApp]:
    """The app on a loopback port (one server kind: the HTTP contract is the same on both)."""
    if request.node.callspec.params.get("redis_url") == "valkey":
        pytest.skip("the HTTP contract does not depend on the server: checked on one kind")
    with ServedApp(redis_settings) as app:
        yield app


# The coverage phase is deterministic: the random seed's run spends its time on the
# generated phases instead (one run is ~35 s of a busy 2-core machine).
RUNS = [(FIXED_SEED, "coverage,fuzzing,stateful"), (secrets.randbelow(2**31), "fuzzing,stateful")]


@pytest.mark.parametrize(("seed", "phases"), RUNS, ids=["fixed", "random"])
def test_schemathesis_finds_no_failure_with_every_check(
    served: ServedApp, seed: int, phases: str, tmp_path: Path
) -> None:
    command = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG),
        "run", f"http://127.0.0.1:{served.port}/api/v1/openapi.json",
        "--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", str(seed),
        "--phases", phases,
        "--header", f"Authorization: Bearer {ADMIN}", "--workers", "1",
        "--request-timeout", "10", "--no-color",
    ]  # fmt: skip
    # S603: our own venv's schemathesis with fixed arguments, no shell.
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=110, check=False, cwd=tmp_path
    )
    output = f"{result.stdout[-25000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"seed {seed}:\n{output}"
