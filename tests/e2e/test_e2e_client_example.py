"""examples/webapp against the real services: a form post becomes a task, its page the result.

The example app runs as its own process with the client over the ingest API and
over Redis directly; ingest, worker and scheduler run as processes too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from conveyor.keys import Keys
from conveyor.localserver import free_port
from conveyor_ingest.tokens import mint_token
from e2e.e2e_harness import SECRET, api_session, running_services, stop_services, until

APP = Path(__file__).resolve().parents[2] / "examples" / "webapp" / "app.py"


@pytest.mark.parametrize("transport", ["http", "redis"])
async def test_the_example_app_shows_the_task_result(
    redis_url: str, keys: Keys, tmp_path: Path, transport: str
) -> None:
    env = {"CONVEYOR_KEY_PREFIX": keys.prefix, "CONVEYOR_LOG_LEVEL": "WARNING"}
    with running_services(tmp_path, redis_url, env) as deployment:
        async with api_session(deployment):  # ingest is ready
            pass
        port = free_port()
        app_env = {**os.environ, **env, "PORT": str(port)}
        if transport == "http":
            app_env["CONVEYOR_URL"] = deployment.base_url
            app_env["CONVEYOR_TOKEN"] = mint_token(SECRET, "web", ["tasks:write", "tasks:read"])
        else:
            app_env["CONVEYOR_URL"] = redis_url
        with _running_app(app_env, tmp_path / "app.log"):
            await _use_the_app(f"http://127.0.0.1:{port}")


@contextmanager
def _running_app(env: dict[str, str], log_path: Path) -> Iterator[None]:
    """The example app as a process, stopped (SIGTERM) afterwards."""
    with log_path.open("wb") as log:
        app = subprocess.Popen(  # noqa: S603 - our interpreter and the example file
            [sys.executable, str(APP)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield
    finally:
        stop_services([app])


async def _use_the_app(base: str) -> None:
    async with aiohttp.ClientSession(base) as web:

        async def up() -> bool:
            try:
                async with web.get("/") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await until(up, 60, "the example app up")
        async with web.post("/echo", data={"message": "hi <there>"}, allow_redirects=False) as sent:
            assert sent.status == 303
            page = sent.headers["Location"]

        async def shown() -> str | None:
            async with web.get(page) as response:
                text = await response.text()
            return text if "succeeded" in text else None

        text = await until(shown, 60, "the task's result on its page")
        assert "{&#x27;message&#x27;: &#x27;hi &lt;there&gt;&#x27;}" in text
