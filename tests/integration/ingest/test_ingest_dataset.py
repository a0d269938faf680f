"""Ingest on a Redis restarted empty: 503 for new tasks, /readyz and /queues say why,
until an operator acknowledges (conveyor.dataset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from conveyor.dataset import acknowledge
from conveyor.keys import Keys
from conveyor.localserver import LocalServer
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from integration.ingest.ingest_support import auth, ingest_settings, make_token, until
from integration.test_dataset import restart_empty

ADMIN = make_token(sub="root", scope="admin")


async def _post(client: TestClient[Any, Any], key: str) -> tuple[int, dict[str, Any]]:
    headers = {**auth(), "Idempotency-Key": key}
    response = await client.post("/api/v1/tasks", json={"type": "demo.echo"}, headers=headers)
    return response.status, await response.json()


async def test_new_tasks_get_503_until_the_reset_is_acknowledged(tmp_path: Path) -> None:
    server = LocalServer(tmp_path / "redis", kind="redis").start()
    settings = RedisSettings(redis_url=server.url, key_prefix="reset")
    keys = Keys("reset", ("default",))
    app = create_app(ingest_settings(), settings, consume=True)
    try:
        async with TestClient(TestServer(app)) as client:
            assert (await _post(client, "k1"))[0] == 202
            restart_empty(server)

            async def refused() -> bool:
                status, body = await _post(client, "k1")  # the key the lost dataset had
                return status == 503 and "dataset" in body["message"]

            await until(refused, "503 for the lost dataset")
            ready = await client.get("/readyz")
            assert ready.status == 503
            assert "dataset" in str((await ready.json())["data"]["problems"])
            queues = await (await client.get("/api/v1/queues", headers=auth(ADMIN))).json()
            assert queues["data"]["dataset"]["stopped"] is True
            assert queues["data"]["dataset"]["resets"] == 1
            admin = Redis.from_url(server.url)
            assert await acknowledge(admin, keys) == [keys.dataset_identity("ingest")]
            await admin.aclose()

            async def accepted() -> bool:
                return (await _post(client, "k2"))[0] == 202

            await until(accepted, "new tasks accepted once acknowledged")
            queues = await (await client.get("/api/v1/queues", headers=auth(ADMIN))).json()
            assert queues["data"]["dataset"] == {"resets": 1, "stopped": False, "since_ms": None}
            assert queues["data"]["items"][0]["queue"] == "default"
    finally:
        server.stop()
