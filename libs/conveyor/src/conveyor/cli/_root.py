"""The root command: connection options and the command groups."""

from __future__ import annotations

from importlib import import_module

import click

from conveyor.cli._session import DEFAULT_URL, ConveyorGroup, Session

# Each command's module loads only when that command runs (click's lazy-group pattern):
# `conveyor tasks ...` never imports the schedules' pydantic models or PyJWT.
COMMANDS = {
    "queues": "conveyor.cli._queues:queues",
    "queue": "conveyor.cli._queues:queue",
    "workers": "conveyor.cli._queues:workers",
    "tasks": "conveyor.cli._tasks:tasks",
    "dlq": "conveyor.cli._dlq:dlq",
    "schedules": "conveyor.cli._schedules:schedules",
    "token": "conveyor.cli._token:token",
}


class LazyGroup(ConveyorGroup):
    """The root group: its commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, importing its module (None: no such command)."""
        if cmd_name not in COMMANDS:
            return None
        module, _, name = COMMANDS[cmd_name].partition(":")
        command: click.Command = getattr(import_module(module), name)
        return command


EPILOG = """\b
Exit codes: 0 ok; 1 failure (the API refused, a task did not succeed, the server
cannot be reached, a confirmation was refused); 2 usage or configuration error.
Shell completion (bash): eval "$(_CONVEYOR_COMPLETE=bash_source conveyor)"
(zsh: zsh_source, fish: fish_source). See docs/cli.md."""


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"max_content_width": 100})
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
@click.version_option(
    package_name="conveyor-tasks", prog_name="conveyor", message="%(prog)s %(version)s"
)
@click.pass_context
def cli(ctx: click.Context, url: str, token: str | None, timeout: float) -> None:
    """Operate Conveyor: queues, tasks, dead letters, schedules, workers."""
    ctx.obj = Session(url, token, timeout)
