"""``conveyor dlq``: list, show, dry runs, bulk replay with a summary, purge with and
without confirmation, filters by type."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from conveyor import AsyncClient
from conveyor.handlers import PermanentError, Registry, TaskContext
from integration.cli.conftest import Run

LETTER_FIELDS = {
    "entry_id", "queue", "partition", "task_id", "type", "reason", "error", "attempts",
    "dead_at", "task_fields",
}  # fmt: skip


def _registry(broken: bool) -> Registry:
    registry = Registry()
    for name in ("cli.a", "cli.b"):

        @registry.handler(name)
        async def handle(ctx: TaskContext, payload: Any) -> Any:
            if broken:
                msg = "downstream refused"
                raise PermanentError(msg)
            return payload

    return registry


@pytest.fixture
async def three_dead(
    ingest_url: str, token: str, run_worker: Callable[[Registry], Awaitable[None]]
) -> list[str]:
    """Two dead tasks of cli.a and one of cli.b, on queue default; their ids."""
    async with AsyncClient(ingest_url, token=token) as client:
        refs = [
            await client.enqueue(kind, {"n": n})
            for n, kind in enumerate(("cli.a", "cli.a", "cli.b"))
        ]
        await run_worker(_registry(broken=True))
        for ref in refs:
            assert (await client.wait(ref.id, 30)).status == "dead"
    return [ref.id for ref in refs]


async def test_list_and_show_in_tables_and_json(conveyor: Run, three_dead: list[str]) -> None:
    drawn = await conveyor("dlq", "list")
    assert drawn.exit_code == 0
    assert "dead letters of default (3)" in drawn.stdout
    assert all(task_id in drawn.stdout for task_id in three_dead), drawn.stdout
    listed = json.loads((await conveyor("dlq", "list", "--type", "cli.a", "--json")).stdout)
    assert {item["task_id"] for item in listed["items"]} == set(three_dead[:2])
    assert set(listed["items"][0]) == LETTER_FIELDS

    entry = listed["items"][0]["entry_id"]
    shown = await conveyor("dlq", "show", entry, "--json")
    assert json.loads(shown.stdout)["reason"] == "permanent"
    table = await conveyor("dlq", "show", entry)
    assert "downstream refused" in table.stdout
    missing = await conveyor("dlq", "show", "1-1")
    assert (missing.exit_code, "(HTTP 404)" in missing.stderr) == (1, True)


async def test_replay_dry_run_changes_nothing_then_replay_shows_a_summary(
    conveyor: Run,
    three_dead: list[str],
    ingest_url: str,
    token: str,
    run_worker: Callable[[Registry], Awaitable[None]],
) -> None:
    dry = await conveyor("dlq", "replay", "--type", "cli.a", "--dry-run")
    assert dry.exit_code == 0
    assert "would replay 2 dead letters" in dry.stdout
    assert "nothing was replayed" in dry.stdout
    tasks = json.loads((await conveyor("tasks", "list", "--json")).stdout)["items"]
    assert len(tasks) == 3  # no replay was enqueued

    replayed = await conveyor("dlq", "replay", "--type", "cli.a")
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 2, skipped 0 undecodable, failed 0" in replayed.stdout
    again = json.loads((await conveyor("dlq", "replay", "--type", "cli.a", "--json")).stdout)
    assert again["matched"] == 2
    assert {r["replay_of"] for r in again["replayed"]} == set(three_dead[:2])

    await run_worker(_registry(broken=False))  # the fix is deployed
    async with AsyncClient(ingest_url, token=token) as client:
        for replay in again["replayed"]:  # the second replay answered the first one's tasks
            assert (await client.wait(replay["id"], 30)).status == "succeeded"
    tasks = json.loads((await conveyor("tasks", "list", "--json")).stdout)["items"]
    assert len(tasks) == 5


async def test_purge_asks_and_a_refusal_deletes_nothing(
    conveyor: Run, three_dead: list[str]
) -> None:
    refused = await conveyor("dlq", "purge", "--queue", "default", input="n\n")
    assert refused.exit_code == 1
    assert "Purge 3 dead letters of queue default?" in refused.stderr
    dry = await conveyor("dlq", "purge", "--queue", "default", "--dry-run", "--json")
    assert json.loads(dry.stdout) == {"dry_run": True, "matched": 3, "items": []}
    left = json.loads((await conveyor("dlq", "list", "--json")).stdout)["items"]
    assert len(left) == 3

    filtered = await conveyor("dlq", "purge", "--type", "cli.b", "--json", input="y\n")
    assert filtered.exit_code == 0, filtered.output
    assert json.loads(filtered.stdout) == {"dry_run": False, "matched": 1, "deleted": 1}
    purged = await conveyor("dlq", "purge", "--queue", "default", "--yes")
    assert (purged.exit_code, purged.stdout.strip()) == (
        0,
        "purged 2 dead letters of queue default",
    )
    assert json.loads((await conveyor("dlq", "list", "--json")).stdout)["items"] == []
