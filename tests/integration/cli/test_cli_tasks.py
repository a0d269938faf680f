"""``conveyor tasks``: enqueue, wait, show, list, cancel; exit codes and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from conveyor.handlers import PermanentError, Registry, TaskContext
from integration.cli.conftest import Run

TASK_FIELDS = {
    "id", "type", "queue", "status", "attempts", "result", "error", "subject", "origin",
    "created_at", "started_at", "finished_at", "due_at", "replay_of", "revision",
    "change_rejected",
}  # fmt: skip


def _registry() -> Registry:
    registry = Registry()

    @registry.handler("cli.echo")
    async def echo(ctx: TaskContext, payload: Any) -> Any:
        return payload

    @registry.handler("cli.fail")
    async def fail(ctx: TaskContext, payload: Any) -> None:
        msg = "broken on purpose"
        raise PermanentError(msg)

    return registry


async def test_enqueue_from_a_file_then_wait_show_and_list(
    conveyor: Run, run_worker: Callable[[Registry], Awaitable[None]], tmp_path: Path
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text('{"order": 42}', encoding="utf-8")
    enqueued = await conveyor("tasks", "enqueue", "cli.echo", "--payload", f"@{payload}", "--json")
    assert enqueued.exit_code == 0, enqueued.output
    task_id = json.loads(enqueued.stdout)["id"]
    await run_worker(_registry())

    waited = await conveyor("tasks", "wait", task_id, "--timeout", "30", "--json")
    assert waited.exit_code == 0, waited.output
    shown = json.loads(waited.stdout)
    assert set(shown) == TASK_FIELDS
    assert (shown["status"], shown["result"], shown["attempts"]) == ("succeeded", {"order": 42}, 1)

    table = await conveyor("tasks", "show", task_id)
    assert table.exit_code == 0
    assert task_id in table.stdout
    assert "succeeded" in table.stdout

    listed = await conveyor(
        "tasks", "list", "--queue", "default", "--status", "succeeded", "--json"
    )
    assert [item["id"] for item in json.loads(listed.stdout)["items"]] == [task_id]
    drawn = await conveyor("tasks", "list", "--type", "cli.echo")
    assert drawn.exit_code == 0
    assert task_id in drawn.stdout
    assert "tasks (1)" in drawn.stdout


async def test_wait_exits_1_for_a_dead_task_and_enqueue_wait_shows_it(
    conveyor: Run, run_worker: Callable[[Registry], Awaitable[None]]
) -> None:
    enqueued = await conveyor("tasks", "enqueue", "cli.fail", "--max-attempts", "1", "--json")
    task_id = json.loads(enqueued.stdout)["id"]
    await run_worker(_registry())
    waited = await conveyor("tasks", "wait", task_id, "--timeout", "30")
    assert waited.exit_code == 1
    assert f"conveyor: task {task_id} dead" in waited.stderr
    assert "broken on purpose" in waited.stdout


async def test_cancel_a_delayed_task_and_a_404_is_one_line_with_exit_1(conveyor: Run) -> None:
    enqueued = await conveyor("tasks", "enqueue", "cli.echo", "--delay", "3600", "--json")
    task_id = json.loads(enqueued.stdout)["id"]
    assert json.loads(enqueued.stdout)["status"] == "scheduled"
    cancelled = await conveyor("tasks", "cancel", task_id)
    assert (cancelled.exit_code, cancelled.stdout.strip()) == (0, f"task {task_id}: cancelled")
    shown = await conveyor("tasks", "show", task_id, "--json")
    assert json.loads(shown.stdout)["status"] == "cancelled"

    missing = await conveyor("tasks", "show", "0192aaaa-0000-7000-8000-000000000000")
    assert missing.exit_code == 1
    assert missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("conveyor: ")
    assert "(HTTP 404)" in missing.stderr
    assert "Traceback" not in missing.output


async def test_api_field_errors_are_shown_with_their_path(conveyor: Run) -> None:
    refused = await conveyor("tasks", "enqueue", "cli.echo", "--queue", "nosuch")
    assert refused.exit_code == 1
    assert "(HTTP 422)" in refused.stderr
    assert "queue: " in refused.stderr
    assert "Traceback" not in refused.output


async def test_usage_errors_exit_2(conveyor: Run, tmp_path: Path) -> None:
    for args in (
        ("tasks", "enqueue"),
        ("tasks", "enqueue", "cli.echo", "--payload", "{not json"),
        ("tasks", "enqueue", "cli.echo", "--payload", f"@{tmp_path / 'missing.json'}"),
        ("tasks", "list", "--status", "bogus"),
        ("nosuchcommand",),
    ):
        result = await conveyor(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


async def test_an_unreachable_api_is_one_line_with_exit_1(conveyor: Run) -> None:
    result = await conveyor("--url", "http://127.0.0.1:9", "queues")
    assert result.exit_code == 1
    assert result.stderr.startswith("conveyor: cannot reach the Conveyor API")
    assert "(HTTP" not in result.stderr  # no server answered
    assert result.stderr.count("\n") == 1
