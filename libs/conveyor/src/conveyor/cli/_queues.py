"""``conveyor queues``, ``conveyor queue pause|resume Q``, ``conveyor workers``."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from conveyor.cli._format import age, moment, table
from conveyor.cli._session import emit, json_option, session

QUEUE_COLUMNS = (
    "queue", "partition", "depth", "pending", "lag", "consumers", "dead letters",
    "oldest pending", "paused",
)  # fmt: skip
WORKER_COLUMNS = (
    "consumer", "host", "pid", "version", "queues", "concurrency", "in flight", "started",
    "last heartbeat",
)  # fmt: skip


def _queue_row(figures: dict[str, Any], partition: Any = None) -> list[Any]:
    return [
        figures["queue"],
        partition,
        figures["depth"],
        figures["pending"],
        figures["lag"],
        figures["consumers"],
        figures["dead_letters"],
        age(figures.get("oldest_pending_age_s")),
        figures.get("paused"),
    ]


def _queue_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for figures in items:
        parts = figures.get("partitions") or []
        rows.append(_queue_row(figures, "all" if parts else None))
        rows += [_queue_row({**part, "paused": None}, part["partition"]) for part in parts]
    return rows


@click.command()
@json_option
def queues(as_json: bool) -> None:
    """Every queue's figures (and each partition's): depth, lag, pending, dead letters."""
    items = session().client.queues.list()

    def draw(out: Console) -> None:
        out.print(table("queues", QUEUE_COLUMNS, _queue_rows(items)))

    emit(as_json, {"items": items}, draw)


@click.group()
def queue() -> None:
    """Pause or resume one queue."""


def _pause_line(answer: dict[str, Any]) -> str:
    state = "paused" if answer.get("paused") else "resumed"
    if not answer.get("changed", True):
        state = f"already {'paused' if answer.get('paused') else 'running'}"
    return f"queue {answer.get('queue')}: {state}"


@queue.command()
@click.argument("name")
@json_option
def pause(name: str, as_json: bool) -> None:
    """Pause queue NAME: it keeps accepting tasks; workers start none until resumed."""
    answer = session().client.queues.pause(name)
    emit(as_json, answer, lambda out: out.print(_pause_line(answer)))


@queue.command()
@click.argument("name")
@json_option
def resume(name: str, as_json: bool) -> None:
    """Resume queue NAME."""
    answer = session().client.queues.resume(name)
    emit(as_json, answer, lambda out: out.print(_pause_line(answer)))


@click.command()
@json_option
def workers(as_json: bool) -> None:
    """Live workers (from their heartbeats): host, pid, queues, in flight, last heartbeat."""
    items = session().client.workers.list()
    rows = [
        [
            w.get("consumer"), w.get("host"), w.get("pid"), w.get("version"),
            ",".join(w.get("queues") or []), w.get("concurrency"), w.get("in_flight"),
            moment(w.get("started_at")), moment(w.get("last_heartbeat")),
        ]
        for w in items
    ]  # fmt: skip

    def draw(out: Console) -> None:
        out.print(table(f"workers ({len(items)})", WORKER_COLUMNS, rows))

    emit(as_json, {"items": items}, draw)
