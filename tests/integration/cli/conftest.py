"""Fixtures of the CLI tests: a real ingest on a real Redis, and the CLI as a process.

The console script runs as a subprocess (its own stdout, stderr and exit code, as an
operator's shell sees them) while the test's event loop keeps serving the API.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration.client.conftest import (
    all_keys,
    ingest_overrides,
    ingest_url,
    redis_settings,
    run_worker,
    token,
)

__all__ = ["all_keys", "ingest_overrides", "ingest_url", "redis_settings", "run_worker", "token"]

CONVEYOR = Path(sys.executable).with_name("conveyor")
RUN_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Result:
    """What one ``conveyor`` process did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout then stderr (for assertion messages)."""
        return self.stdout + self.stderr


Run = Callable[..., Awaitable[Result]]


@pytest.fixture
def conveyor(ingest_url: str, token: str, tmp_path: Path) -> Run:
    """``await conveyor("dlq", "list", input="y\\n")``: run the console script against
    the test's ingest with an admin token; its exit code, stdout and stderr."""
    env = {**os.environ, "CONVEYOR_URL": ingest_url, "CONVEYOR_TOKEN": token, "COLUMNS": "200"}

    async def run(*args: str, input: str = "", **extra_env: str) -> Result:
        process = await asyncio.create_subprocess_exec(
            CONVEYOR, *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**env, **extra_env}, cwd=tmp_path,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(input.encode()), RUN_TIMEOUT_S)
        assert process.returncode is not None
        return Result(process.returncode, out.decode(), err.decode())

    return run
