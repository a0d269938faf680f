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
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from conveyor.localserver import LocalServer, ServerKind, find_server_binary
from e2e.e2e_harness import (
    SERVICES,
    Deployment,
    api_session,
    final_state,
    post_task,
    running_services,
    until,
)

ROOT = Path(__file__).resolve().parents[2]
ACL_TEMPLATE = ROOT / "deploy" / "redis" / "users.acl"
RENDER = ROOT / "deploy" / "redis" / "render-acl.sh"
USERS = ("ingest", "scheduler", "worker", "keda")
PREFIX = "acme-prod"  # not the default: render-acl.sh rewrites the patterns for it
# Applying a schedules file is part of the scheduler's role too (its own set of file ids).
SCHEDULES_FILE = "schedules:\n  - {id: acl.hourly, cron: '0 0 * * * ?', task: {type: demo.echo}}\n"


def _kinds() -> list[str]:
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS", "redis,valkey").split(",")
    return [kind for kind in ("redis", "valkey") if kind in wanted]


def _render_acl(out: Path, passwords: dict[str, str]) -> None:
    """Render users.acl the way a deployment does: render-acl.sh with sha256 digests."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KEY_PREFIX": PREFIX}
    for user, password in passwords.items():
        env[f"{user.upper()}_SHA256"] = hashlib.sha256(password.encode()).hexdigest()
    subprocess.run(  # noqa: S603 - fixed argument list of a file in this repository
        ["/bin/sh", str(RENDER), str(ACL_TEMPLATE), str(out)], env=env, check=True
    )


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
        schedules = tmp_path / "schedules.yaml"
        schedules.write_text(SCHEDULES_FILE)
        extra = {
            "CONVEYOR_SCHEDULER_SCHEDULES_FILE": str(schedules),
            "CONVEYOR_KEY_PREFIX": PREFIX,  # the ACL's key patterns are rendered for it
        }
        with running_services(tmp_path, urls, extra) as deployment:
            yield deployment


@pytest.fixture
async def http(deployment: Deployment) -> AsyncIterator[aiohttp.ClientSession]:
    """A session with a write/read token; returns once ingest is ready."""
    async with api_session(deployment) as session:
        yield session


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
    listing = await until(lambda: _schedule_ids(http), 30, "the file's schedule listed")
    assert listing == ["acl.hourly"]
    for name, path in deployment.logs.items():
        text = path.read_text(errors="replace")
        assert "service_started" in text, f"{name} did not start: {text[-2000:]}"
        assert "NOPERM" not in text.upper(), f"{name} was refused a command: {text[-3000:]}"
        assert "Traceback" not in text, f"{name} crashed somewhere: {text[-3000:]}"


async def _schedule_ids(http: aiohttp.ClientSession) -> list[str] | None:
    async with http.get("/api/v1/schedules") as response:
        items = (await response.json())["data"]["items"]
    return [item["schedule"]["id"] for item in items] or None
