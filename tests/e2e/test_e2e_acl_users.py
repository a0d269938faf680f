"""End to end under least privilege: each service connects as its own ACL user.

A server runs with deploy/redis/users.acl rendered by render-acl.sh (``default``
user off), and ingest, worker and scheduler run as processes, each with a
CONVEYOR_REDIS_URL that carries its own user and password. Tasks posted over
HTTP succeed (one of them through a retry timer, so the scheduler's part runs),
and no service log mentions NOPERM.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from conveyor.localserver import LocalServer, ServerKind, find_server_binary, free_port
from conveyor_ingest.tokens import mint_token
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
ACL_TEMPLATE = ROOT / "deploy" / "redis" / "users.acl"
RENDER = ROOT / "deploy" / "redis" / "render-acl.sh"
USERS = ("ingest", "scheduler", "worker", "keda")
SERVICES = ("ingest", "worker", "scheduler")
SECRET = "e2e-acl-secret-of-sufficient-length-for-hs256"


def _kinds() -> list[str]:
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS", "redis,valkey").split(",")
    return [kind for kind in ("redis", "valkey") if kind in wanted]


@dataclass
class Deployment:
    """The running services and where their logs are."""

    base_url: str
    logs: dict[str, Path]


def _render_acl(out: Path, passwords: dict[str, str]) -> None:
    """Render users.acl the way a deployment does: render-acl.sh with sha256 digests."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for user, password in passwords.items():
        env[f"{user.upper()}_SHA256"] = hashlib.sha256(password.encode()).hexdigest()
    subprocess.run(  # noqa: S603 - fixed argument list of a file in this repository
        ["/bin/sh", str(RENDER), str(ACL_TEMPLATE), str(out)], env=env, check=True
    )


def stop_services(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the service processes and reap them (SIGKILL after 30 s)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_services(
    folder: Path, urls: dict[str, str], extra_env: dict[str, str] | None = None
) -> Iterator[Deployment]:
    """ingest, worker and scheduler as processes, each with its own CONVEYOR_REDIS_URL.

    Plain functions (not fixtures), so other test modules can import them.
    """
    port = free_port()
    logs = {name: folder / f"{name}.log" for name in SERVICES}
    common = {
        **os.environ,
        "CONVEYOR_KEY_PREFIX": "conveyor",  # the ACL patterns name the default prefix
        "CONVEYOR_INGEST_PORT": str(port),
        "CONVEYOR_INGEST_JWT_SECRET": SECRET,
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_SCHEDULER_METRICS_PORT": "0",
        "CONVEYOR_WORKER_BLOCK_MS": "100",
        "CONVEYOR_LOG_LEVEL": "INFO",
        "CONVEYOR_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name in SERVICES:
            with logs[name].open("wb") as log:
                processes.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter and module
                        [sys.executable, "-m", f"conveyor_{name}"],
                        env={**common, "CONVEYOR_REDIS_URL": urls[name]},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=folder,
                    )
                )
        yield Deployment(f"http://127.0.0.1:{port}", logs)
    finally:
        stop_services(processes)


@pytest.fixture(params=_kinds())
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """An ACL server of each kind and the three services, each as its own user."""
    kind: ServerKind = request.param
    try:
        find_server_binary(kind)
    except Exception as exc:  # any reason means: this server is absent here
        pytest.skip(f"{kind} server not available: {exc}")
    passwords = {user: secrets.token_urlsafe(24) for user in USERS}
    _render_acl(tmp_path / "users.acl", passwords)
    acl = ["--aclfile", str(tmp_path / "users.acl")]
    with LocalServer(tmp_path / "data", kind=kind, extra_args=acl) as server:
        urls = {
            name: f"redis://conveyor-{name}:{passwords[name]}@127.0.0.1:{server.port}/0"
            for name in SERVICES
        }
        with running_services(tmp_path, urls) as deployment:
            yield deployment


async def until(probe: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    """tests/waiting.wait_for with a 0.1 s interval and an async probe."""
    return await wait_for(probe, within=within, interval=0.1, what=what)


@asynccontextmanager
async def api_session(deployment: Deployment) -> AsyncIterator[aiohttp.ClientSession]:
    """A session with a write/read token, entered once ingest is ready."""
    token = mint_token(SECRET, "e2e-acl", ["tasks:write", "tasks:read"])
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(deployment.base_url, headers=headers) as session:

        async def ready() -> bool:
            try:
                async with session.get("/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await until(ready, 60, "ingest ready")
        yield session


@pytest.fixture
async def http(deployment: Deployment) -> AsyncIterator[aiohttp.ClientSession]:
    """A session with a write/read token; returns once ingest is ready."""
    async with api_session(deployment) as session:
        yield session


async def post_task(http: aiohttp.ClientSession, body: dict[str, Any]) -> str:
    async with http.post("/api/v1/tasks", json=body) as response:
        assert response.status == 202, await response.text()
        task_id: str = (await response.json())["data"]["id"]
    return task_id


async def final_state(http: aiohttp.ClientSession, task_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        async with http.get(f"/api/v1/tasks/{task_id}?wait=5") as response:
            data: dict[str, Any] = (await response.json())["data"] or {}
        return data if data.get("status") in ("succeeded", "dead", "cancelled") else {}

    result: dict[str, Any] = await until(probe, 90, f"task {task_id} finished")
    return result


async def test_services_under_their_own_acl_users_run_tasks_without_noperm(
    deployment: Deployment, http: aiohttp.ClientSession
) -> None:
    echo = await post_task(http, {"type": "demo.echo", "payload": {"hello": "acl"}})
    flaky = await post_task(http, {"type": "demo.fail", "payload": {"times": 1}})
    done = await final_state(http, echo)
    assert done["status"] == "succeeded"
    assert done["result"] == {"hello": "acl"}
    retried = await final_state(http, flaky)
    assert retried["status"] == "succeeded"
    assert retried["attempts"] == 2  # the retry went through the scheduler's timer
    for name, path in deployment.logs.items():
        text = path.read_text(errors="replace")
        assert "service_started" in text, f"{name} did not start: {text[-2000:]}"
        assert "NOPERM" not in text.upper(), f"{name} was refused a command: {text[-3000:]}"
        assert "Traceback" not in text, f"{name} crashed somewhere: {text[-3000:]}"
