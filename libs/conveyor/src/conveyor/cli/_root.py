"""The root command: connection options and the command groups."""

from __future__ import annotations

import click

from conveyor.cli._dlq import dlq
from conveyor.cli._queues import queue, queues, workers
from conveyor.cli._schedules import schedules
from conveyor.cli._session import DEFAULT_URL, ConveyorGroup, Session
from conveyor.cli._tasks import tasks
from conveyor.cli._token import token

EPILOG = """\b
Exit codes: 0 ok; 1 failure (the API refused, a task did not succeed, the server
cannot be reached, a confirmation was refused); 2 usage or configuration error.
Shell completion (bash): eval "$(_CONVEYOR_COMPLETE=bash_source conveyor)"
(zsh: zsh_source, fish: fish_source). See docs/cli.md."""


@click.group(cls=ConveyorGroup, epilog=EPILOG, context_settings={"max_content_width": 100})
@click.option(
    "--url",
    envvar="CONVEYOR_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The ingest API (env CONVEYOR_URL).",
)
@click.option(
    "--token", envvar="CONVEYOR_TOKEN", help="Bearer token (env CONVEYOR_TOKEN; see `token`)."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
    help="Seconds per API request.",
)  # fmt: skip
@click.version_option(package_name="conveyor-tasks", prog_name="conveyor")
@click.pass_context
def cli(ctx: click.Context, url: str, token: str | None, timeout: float) -> None:
    """Operate Conveyor: queues, tasks, dead letters, schedules, workers."""
    ctx.obj = Session(url, token, timeout)


for command in (queues, queue, workers, tasks, dlq, schedules, token):
    cli.add_command(command)
