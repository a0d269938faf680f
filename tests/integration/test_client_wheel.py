"""The library's wheel installs in a clean venv with its base dependencies and enqueues.

Built with ``uv build`` from libs/conveyor, installed with only the base
dependencies (pinned by the project lock, from uv's cache: no network), then a
three-line producer enqueues against the real server and reads its task back,
without loading any service-only module (OTel SDK, structlog, prometheus, aiohttp).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
PRODUCER = """
import json, os, sys
from conveyor import Client
with Client(os.environ["CONVEYOR_URL"]) as client:
    ref = client.enqueue("demo.echo", {"hi": 1}, idempotency_key="wheel")
    view = client.get(ref.id)
heavy = ("opentelemetry.sdk", "structlog", "prometheus_client", "aiohttp", "hiredis")
loaded = sorted({m for m in sys.modules if m.startswith(heavy)})
print(json.dumps({"id": ref.id, "status": view.status, "loaded": loaded}))
"""


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (make install puts it in .tools/)")
    return found


def _run(*command: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - fixed commands on files of this test
        command, capture_output=True, text=True, check=False, timeout=120, env=env
    )
    assert done.returncode == 0, f"{command[:3]}: {done.stdout}\n{done.stderr}"
    return done.stdout


async def test_the_wheel_installs_alone_and_enqueues(
    tmp_path: Path, redis_url: str, keys: Keys, redis: Redis
) -> None:
    uv = _uv()
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    _run(uv, "build", "--wheel", "--no-build-isolation", "--python", sys.executable,
         "--out-dir", str(dist), str(ROOT / "libs" / "conveyor"))  # fmt: skip
    (wheel,) = dist.glob("conveyor_tasks-*.whl")
    _run(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    lock = str(ROOT / "requirements.lock")  # as constraints: the pins, nothing more
    _run(uv, "pip", "install", "--quiet", "--offline", "--python", python, "-c", lock, str(wheel))
    installed = _run(uv, "pip", "list", "--python", python)
    assert "structlog" not in installed
    assert "opentelemetry-sdk" not in installed
    env = {"PATH": os.environ.get("PATH", ""), "CONVEYOR_URL": redis_url}
    env["CONVEYOR_KEY_PREFIX"] = keys.prefix
    out = json.loads(_run(python, "-c", PRODUCER, env=env))
    assert out["status"] == "pending"
    assert out["loaded"] == []
    entries: Any = await redis.xrange(keys.queue("default").tasks)
    assert [fields[b"id"].decode() for _, fields in entries] == [out["id"]]
