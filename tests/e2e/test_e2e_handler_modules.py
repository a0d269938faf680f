"""``CONVEYOR_WORKER_HANDLERS=myapp.tasks conveyor-worker`` finds ``myapp/`` in the current folder.

The installed console script runs as a process in a temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType
from conveyor.keys import Keys
from conveyor_worker.testing import StreamView
from waiting import wait_for

HANDLERS = """
from conveyor.handlers import Registry, TaskContext

registry = Registry()


@registry.handler("myapp.shout")
async def shout(ctx: TaskContext, payload: str) -> str:
    return payload.upper()
"""


async def test_worker_imports_handler_modules_from_the_current_folder(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(HANDLERS)
    queue = keys.queue("default")
    task = new_envelope("myapp.shout", "hello", "default")
    await redis.xadd(queue.tasks, task.to_fields())  # type: ignore[arg-type]
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_WORKER_HANDLERS": "myapp.tasks",
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_WORKER_BLOCK_MS": "100",
        "CONVEYOR_LOG_FORMAT": "json",
    }
    view = StreamView(redis, queue)
    with worker_in(tmp_path, env) as (worker, log):

        async def succeeded() -> bool:
            assert worker.poll() is None, f"worker exited: {log.read_text()}"
            return TaskEventType.SUCCEEDED in await view.event_types(task.id)

        await wait_for(succeeded, within=60, what="myapp.shout succeeded")
    done = [e for e in await view.events() if e.event == TaskEventType.SUCCEEDED]
    assert done[0].result == '"HELLO"'


@contextmanager
def worker_in(folder: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``conveyor-worker`` running in ``folder``; stopped with SIGTERM, and it must exit 0."""
    log = folder / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(  # noqa: S603 - the installed console script
            [str(Path(sys.executable).parent / "conveyor-worker")],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker, log
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, log.read_text()
