"""``conveyor schedules list|show|next|pause|resume|delete|apply``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from conveyor.cli._format import clip, moment, panel, table
from conveyor.cli._plan import apply_plan, draw_plan, plan_changes
from conveyor.cli._session import console, emit, json_option, session
from conveyor.errors import ConfigurationError
from conveyor.schedule_files import load_schedules_file
from conveyor.schedules import ScheduleDefinition, upcoming

COLUMNS = ("id", "cron", "timezone", "task", "queue", "enabled", "next fire", "description")


def _row(item: dict[str, Any]) -> list[Any]:
    schedule = item["schedule"]
    task = schedule["task"]
    fires = item.get("next_fires") or [None]
    return [
        schedule["id"], schedule["cron"], schedule.get("timezone"), task["type"],
        task.get("queue"), schedule.get("enabled", True), moment(fires[0]),
        clip(item.get("description"), 40),
    ]  # fmt: skip


@click.group()
def schedules() -> None:
    """Cron schedules: list, show, next fires, pause, resume, delete, apply a file."""


@schedules.command("list")
@json_option
def list_schedules(as_json: bool) -> None:
    """Every schedule with its next fire and a description."""
    items = session().client.schedules.list()

    def draw(out: Console) -> None:
        out.print(table(f"schedules ({len(items)})", COLUMNS, [_row(i) for i in items]))

    emit(as_json, {"items": items}, draw)


def _show(out: Console, item: dict[str, Any]) -> None:
    fields = {**item["schedule"], "description": item["description"]}
    fields["next_fires"] = ", ".join(item.get("next_fires") or []) or None
    panel(out, f"schedule {item['schedule']['id']}", fields)


@schedules.command()
@click.argument("schedule_id")
@json_option
def show(schedule_id: str, as_json: bool) -> None:
    """One schedule: its definition, description and next fires."""
    item = session().client.schedules.get(schedule_id)
    emit(as_json, item, lambda out: _show(out, item))


@schedules.command("next")
@click.argument("schedule_id")
@click.option("-n", "count", type=click.IntRange(1, 1000), default=10, show_default=True)
@json_option
def next_fires(schedule_id: str, count: int, as_json: bool) -> None:
    """The next N instants SCHEDULE_ID fires at (none while it is paused)."""
    item = session().client.schedules.get(schedule_id)
    definition = ScheduleDefinition.model_validate(item["schedule"])
    fires = [at.isoformat() for at in upcoming(definition, datetime.now(UTC), count)]
    data = {"id": schedule_id, "enabled": definition.enabled, "next_fires": fires}

    def draw(out: Console) -> None:
        if not definition.enabled:
            out.print(f"schedule {schedule_id} is paused: it fires nothing until resumed")
        out.print(
            table(f"next fires of {schedule_id}", ("#", "instant (UTC)"), enumerate(fires, 1))
        )

    emit(as_json, data, draw)


def _set_enabled(schedule_id: str, enabled: bool, as_json: bool) -> None:
    schedules_api = session().client.schedules
    current = schedules_api.get(schedule_id)["schedule"]
    item = schedules_api.replace({**current, "enabled": enabled})
    state = "resumed" if enabled else "paused"
    emit(as_json, item, lambda out: out.print(f"schedule {schedule_id}: {state}"))


@schedules.command()
@click.argument("schedule_id")
@json_option
def pause(schedule_id: str, as_json: bool) -> None:
    """Disable SCHEDULE_ID (it fires nothing; resuming is not a misfire)."""
    _set_enabled(schedule_id, False, as_json)


@schedules.command()
@click.argument("schedule_id")
@json_option
def resume(schedule_id: str, as_json: bool) -> None:
    """Enable SCHEDULE_ID again."""
    _set_enabled(schedule_id, True, as_json)


@schedules.command()
@click.argument("schedule_id")
@json_option
def delete(schedule_id: str, as_json: bool) -> None:
    """Delete SCHEDULE_ID."""
    session().client.schedules.delete(schedule_id)
    answer = {"id": schedule_id, "deleted": True}
    emit(as_json, answer, lambda out: out.print(f"schedule {schedule_id}: deleted"))


@schedules.command()
@click.option(
    "-f", "--file", "path", type=click.Path(path_type=Path, dir_okay=False), required=True
)
@click.option(
    "--prune/--no-prune",
    default=True,
    show_default=True,
    help="Delete schedules the file does not define.",
)
@click.option("--dry-run", is_flag=True, help="Show the diff only.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@json_option
def apply(path: Path, prune: bool, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Make the schedules match a YAML file (the scheduler's format, docs/scheduler.md):
    shows the diff, asks (unless --yes), then creates, replaces and deletes."""
    try:
        wanted = load_schedules_file(path)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--file") from exc
    client = session().client
    plan = plan_changes(wanted, client.schedules.list(), prune)
    if not as_json:
        draw_plan(console(), plan)
    if plan.empty or dry_run:
        emit(as_json, {"dry_run": dry_run, **plan.summary()}, lambda out: None)
        return
    if not yes:
        click.confirm("Apply these changes?", abort=True, err=True)
    apply_plan(client.schedules, plan)
    emit(
        as_json,
        {"dry_run": False, **plan.summary()},
        lambda out: out.print(f"applied: {plan.counts()}"),
    )
