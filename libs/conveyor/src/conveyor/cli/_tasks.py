"""``conveyor tasks list|show|wait|cancel|enqueue``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from conveyor.cli._format import clip, moment, panel, table
from conveyor.cli._session import Failure, emit, json_option, session
from conveyor.client import TaskStatus, TaskView

PAGE_MAX = 500  # the API's largest page
TASK_COLUMNS = ("id", "type", "queue", "status", "attempts", "created", "finished", "error")


def task_json(task: TaskView) -> dict[str, Any]:
    """A task with the API's field names (what ``--json`` prints)."""
    moments = ("created_at", "started_at", "finished_at", "due_at")
    data: dict[str, Any] = {
        "id": task.id, "type": task.type, "queue": task.queue, "status": str(task.status),
        "attempts": task.attempts, "result": task.result, "error": task.error,
        "subject": task.subject, "origin": task.origin,
    }  # fmt: skip
    for name in moments:
        moment: datetime | None = getattr(task, name)
        data[name] = None if moment is None else moment.isoformat()
    data.update(replay_of=task.replay_of, revision=task.revision)
    data["change_rejected"] = task.change_rejected
    return data


def _row(task: TaskView) -> list[Any]:
    created = moment(task.created_at.isoformat() if task.created_at else None)
    finished = moment(task.finished_at.isoformat() if task.finished_at else None)
    status = str(task.status)
    error = clip(task.error, 50) if task.error else None
    return [task.id, task.type, task.queue, status, task.attempts, created, finished, error]


def show_task(out: Console, task: TaskView) -> None:
    """A task as a key/value panel."""
    panel(out, f"task {task.id}", task_json(task))


@click.group()
def tasks() -> None:
    """List, show, wait for, cancel and enqueue tasks."""


@tasks.command("list")
@click.option("--queue", help="Only this queue (default: every queue).")
@click.option(
    "--status", type=click.Choice([s.value for s in TaskStatus]), help="Only this status."
)
@click.option("--type", "task_type", help="Only this task type.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--cursor", help="Start after this cursor (next_cursor of an earlier call).")
@json_option
def list_tasks(
    queue: str | None, status: str | None, task_type: str | None, limit: int,
    cursor: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Tasks, newest first (only your own unless the token has admin)."""
    client = session().client
    found: list[TaskView] = []
    while True:  # a page can be short while its filters skip entries: follow the cursor
        want = min(limit - len(found), PAGE_MAX)
        page = client.list_tasks(
            queue=queue, status=status, type=task_type, limit=want, cursor=cursor
        )
        found += page.items
        cursor = page.next_cursor
        if cursor is None or len(found) >= limit:
            break
    data = {"items": [task_json(task) for task in found], "next_cursor": cursor}

    def draw(out: Console) -> None:
        out.print(table(f"tasks ({len(found)})", TASK_COLUMNS, [_row(t) for t in found]))
        if cursor:
            out.print(f"more: --cursor {cursor}")

    emit(as_json, data, draw)


@tasks.command()
@click.argument("task_id")
@json_option
def show(task_id: str, as_json: bool) -> None:
    """One task: status, attempts, result, error, times."""
    task = session().client.get(task_id)
    emit(as_json, task_json(task), lambda out: show_task(out, task))


@tasks.command()
@click.argument("task_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True)
@json_option
def wait(task_id: str, timeout: float, as_json: bool) -> None:
    """Wait until TASK_ID finishes; exit 0 only when it succeeded (1: dead, cancelled,
    or not finished within --timeout seconds)."""
    task = session().client.wait(task_id, timeout)
    emit(as_json, task_json(task), lambda out: show_task(out, task))
    if task.status is not TaskStatus.SUCCEEDED:
        state = str(task.status) if task.done else f"still {task.status} after {timeout:g} s"
        raise Failure(f"task {task_id} {state}")


@tasks.command()
@click.argument("task_id")
@json_option
def cancel(task_id: str, as_json: bool) -> None:
    """Cancel a task that has not started (fails once it has)."""
    session().client.cancel(task_id)
    answer = {"id": task_id, "status": "cancelled"}
    emit(as_json, answer, lambda out: out.print(f"task {task_id}: cancelled"))


def _payload(text: str) -> Any:
    """The payload of ``--payload``: JSON text, or @file with JSON in it."""
    source = "--payload"
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {path}: {exc.strerror}", param_hint=source
            ) from exc
        source = str(path)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=source) from exc


@tasks.command()
@click.argument("task_type")
@click.option("--payload", default="null", show_default=True, help="JSON, or @FILE holding JSON.")
@click.option("--queue", default="default", show_default=True)
@click.option("--delay", type=click.FloatRange(min=0), help="Run after this many seconds.")
@click.option("--idempotency-key", help="Same key, same task (retries enqueue nothing new).")
@click.option("--partition-key", help="Tasks with one key go to one partition, in order.")
@click.option("--max-attempts", type=click.IntRange(1, 100))
@click.option(
    "--task-timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per attempt."
)
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), help="Then wait this long for it.")
@json_option
def enqueue(
    task_type: str, payload: str, queue: str, delay: float | None, idempotency_key: str | None,
    partition_key: str | None, max_attempts: int | None, task_timeout: float | None,
    wait_s: float | None, as_json: bool,
) -> None:  # fmt: skip
    """Enqueue one task of TASK_TYPE; prints its id."""
    options: dict[str, Any] = {
        "queue": queue, "delay": delay, "idempotency_key": idempotency_key,
        "partition_key": partition_key, "max_attempts": max_attempts, "timeout": task_timeout,
    }  # fmt: skip
    given = {name: value for name, value in options.items() if value is not None}
    client = session().client
    ref = client.enqueue(task_type, _payload(payload), **given)
    if wait_s is None:
        answer = {"id": ref.id, "queue": ref.queue, "status": str(ref.status)}
        emit(as_json, answer, lambda out: out.print(f"{ref.id} {ref.status} on {ref.queue}"))
        return
    task = client.wait(ref.id, wait_s)
    emit(as_json, task_json(task), lambda out: show_task(out, task))
    if task.status is not TaskStatus.SUCCEEDED:
        raise Failure(f"task {ref.id} {task.status}")
