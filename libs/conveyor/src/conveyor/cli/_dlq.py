"""``conveyor dlq list|show|replay|purge``: dead letters, one or by filter.

Bulk replay and filtered purge go letter by letter with a progress bar (each replay
is idempotent: replaying a letter again answers its first replay); an unfiltered
purge empties each dead-letter stream in one request. ``--dry-run`` says what would
happen and changes nothing; purge asks first unless ``--yes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from conveyor.cli._format import clip, moment, panel, table
from conveyor.cli._letters import LetterFilter, collect, entry_order, shards
from conveyor.cli._session import Failure, emit, errors, json_option, session
from conveyor.errors import ConflictError, NotFoundError, RequestError

LETTER_COLUMNS = (
    "entry id",
    "queue",
    "partition",
    "task id",
    "type",
    "reason",
    "attempts",
    "dead at",
    "error",
)


def _rows(letters: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            x["entry_id"], x["queue"], x["partition"], x.get("task_id"), x.get("type"),
            x["reason"], x["attempts"], moment(x["dead_at"]), clip(x.get("error"), 50),
        ]
        for x in letters
    ]  # fmt: skip


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--queue, --partition, --type, --reason (the API's dead-letter filters)."""
    for option in reversed([
        click.option("--queue", default="default", show_default=True),
        click.option("--partition", type=click.IntRange(min=0), help="Only this partition."),
        click.option("--type", "task_type", help="Only letters of this task type."),
        click.option("--reason", help="Only letters dead for this reason (e.g. max_attempts)."),
    ]):  # fmt: skip
        func = option(func)
    return func


@click.group()
def dlq() -> None:
    """Dead letters: list, show, replay, purge."""


@dlq.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def list_letters(
    queue: str, partition: int | None, task_type: str | None, reason: str | None, limit: int,
    as_json: bool,
) -> None:  # fmt: skip
    """A queue's dead letters, newest first (every partition unless --partition)."""
    wanted = LetterFilter(queue, partition, task_type, reason)
    letters = collect(session().client, wanted, limit)

    def draw(out: Console) -> None:
        out.print(
            table(f"dead letters of {queue} ({len(letters)})", LETTER_COLUMNS, _rows(letters))
        )

    emit(as_json, {"items": letters}, draw)


@dlq.command()
@click.argument("entry_id")
@click.option("--queue", default="default", show_default=True)
@click.option("--partition", type=click.IntRange(min=0))
@json_option
def show(entry_id: str, queue: str, partition: int | None, as_json: bool) -> None:
    """One dead letter: reason, error, attempts and its task's fields."""
    letter = session().client.dead_letters.get(queue, entry_id, partition=partition)
    emit(as_json, letter, lambda out: _show_letter(out, letter))


def _progress() -> Progress:
    """A progress bar on stderr when it is a terminal: bar, percent, time left, done/total."""
    out = errors()
    columns = (*Progress.get_default_columns(), MofNCompleteColumn())
    return Progress(*columns, console=out, disable=not out.is_terminal)


def _show_letter(out: Console, letter: dict[str, Any]) -> None:
    fields = {name: value for name, value in letter.items() if name != "task_fields"}
    fields.update({f"task.{name}": value for name, value in letter["task_fields"].items()})
    panel(out, f"dead letter {letter['entry_id']}", fields)


def _replay_all(letters: list[dict[str, Any]]) -> dict[str, Any]:
    client = session().client
    report: dict[str, Any] = {"replayed": [], "skipped_undecodable": [], "failed": []}
    with _progress() as progress:
        bar = progress.add_task("replaying", total=len(letters))
        for letter in letters:
            entry, queue, part = letter["entry_id"], letter["queue"], letter["partition"]
            try:
                report["replayed"].append(client.dead_letters.replay(queue, entry, partition=part))
            except ConflictError:
                report["skipped_undecodable"].append(entry)
            except RequestError as exc:
                report["failed"].append({"entry_id": entry, "error": str(exc)})
            progress.advance(bar)
    return report


def _summary(report: dict[str, Any]) -> str:
    return (
        f"replayed {len(report['replayed'])}, skipped {len(report['skipped_undecodable'])} "
        f"undecodable, failed {len(report['failed'])}"
    )


@dlq.command()
@click.argument("entry_id", required=False)
@filter_options
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; change nothing.")
@json_option
def replay(
    entry_id: str | None, queue: str, partition: int | None, task_type: str | None,
    reason: str | None, limit: int, dry_run: bool, as_json: bool,
) -> None:  # fmt: skip
    """Replay ENTRY_ID, or every matching dead letter (oldest first, up to --limit), as
    new tasks. Replaying a letter twice answers its first replay; letters stay until purged."""
    client = session().client
    if entry_id is not None:
        letters = [client.dead_letters.get(queue, entry_id, partition=partition)]
    else:
        wanted = LetterFilter(queue, partition, task_type, reason)
        letters = sorted(collect(client, wanted, None), key=entry_order)[:limit]
    if dry_run:
        data = {"dry_run": True, "matched": len(letters), "items": letters}
        emit(as_json, data, lambda out: _would(out, "replay", letters))
        return
    report = {"dry_run": False, "matched": len(letters), **_replay_all(letters)}
    emit(as_json, report, lambda out: out.print(_summary(report)))
    if report["failed"]:
        raise Failure(f"{len(report['failed'])} replays failed: {report['failed'][0]['error']}")


def _would(out: Console, verb: str, letters: list[dict[str, Any]]) -> None:
    out.print(table(f"would {verb} {len(letters)} dead letters", LETTER_COLUMNS, _rows(letters)))
    out.print(f"dry run: nothing was {verb}ed")


def _delete_each(letters: list[dict[str, Any]]) -> int:
    client = session().client
    deleted = 0
    with _progress() as progress:
        bar = progress.add_task("purging", total=len(letters))
        for letter in letters:
            try:
                client.dead_letters.delete(
                    letter["queue"], letter["entry_id"], partition=letter["partition"]
                )
                deleted += 1
            except NotFoundError:
                pass  # purged or deleted meanwhile
            progress.advance(bar)
    return deleted


def _purge_streams(streams: list[tuple[str, int | None, int]]) -> int:
    client = session().client
    deleted = 0
    with _progress() as progress:
        bar = progress.add_task("purging", total=sum(count for _, _, count in streams))
        for queue, partition, _ in streams:
            removed = client.dead_letters.purge(queue, partition=partition)
            deleted += removed
            progress.advance(bar, removed)
    return deleted


@dlq.command()
@click.argument("entry_id", required=False)
@filter_options
@click.option("--all", "all_queues", is_flag=True, help="Every queue's dead letters (no --queue).")
@click.option("--dry-run", is_flag=True, help="Show what would be purged; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def purge(
    entry_id: str | None, queue: str, partition: int | None, task_type: str | None,
    reason: str | None, all_queues: bool, dry_run: bool, yes: bool, as_json: bool,
) -> None:  # fmt: skip
    """Delete ENTRY_ID, the matching dead letters (--type, --reason), or all of a queue's
    (every queue's with --all). Asks first unless --yes."""
    client = session().client
    wanted = LetterFilter(None if all_queues else queue, partition, task_type, reason)
    if entry_id is not None:
        letters = [client.dead_letters.get(queue, entry_id, partition=partition)]
    elif wanted.narrowed:
        letters = collect(client, wanted, None)
    else:
        letters = []
    streams = shards(client, wanted) if entry_id is None and not wanted.narrowed else []
    count = len(letters) + sum(n for _, _, n in streams)
    where = "every queue" if all_queues else f"queue {queue}"
    if dry_run:
        data = {"dry_run": True, "matched": count, "items": letters}
        emit(
            as_json,
            data,
            lambda out: out.print(
                f"would purge {count} dead letters of {where}; dry run: nothing was purged"
            ),
        )
        return
    if not yes:
        click.confirm(f"Purge {count} dead letters of {where}?", abort=True, err=True)
    deleted = (_delete_each(letters) if letters else 0) + (
        _purge_streams(streams) if streams else 0
    )
    data = {"dry_run": False, "matched": count, "deleted": deleted}
    emit(as_json, data, lambda out: out.print(f"purged {deleted} dead letters of {where}"))
