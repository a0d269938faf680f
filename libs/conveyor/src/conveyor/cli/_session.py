"""What every command shares: the API client, the output mode, and error handling.

Errors become one line on stderr and an exit code, never a traceback: the API's
refusals (and a missing server) exit 1 with the envelope's message and field paths;
configuration problems (no URL, a bad setting, no key file) exit 2, like usage errors.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import click
from rich.console import Console

from conveyor.client import Client
from conveyor.errors import ConfigurationError, ConveyorError, RequestError

EXIT_FAILURE = 1
EXIT_USAGE = 2
DEFAULT_URL = "http://127.0.0.1:8080"
WIDE = 200  # columns of a table written to a file or pipe, so ids are never folded


class Failure(click.ClickException):
    """A command that failed: one line ``conveyor: ...`` on stderr, exit 1."""

    exit_code = EXIT_FAILURE

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the one line (click would prefix ``Error:``)."""
        click.echo(f"conveyor: {self.format_message()}", err=True)


class ConfigFailure(Failure):
    """A configuration problem (no URL, a bad setting, no key file): exit 2, like usage."""

    exit_code = EXIT_USAGE


def failure(exc: ConveyorError) -> Failure:
    """The one-line failure of a library or API error."""
    if isinstance(exc, RequestError) and "status" in vars(exc):  # the server answered
        return Failure(f"{exc} (HTTP {exc.status})")
    if isinstance(exc, ConfigurationError):
        return ConfigFailure(str(exc))
    return Failure(str(exc))


class ConveyorGroup(click.Group):
    """A group whose commands' Conveyor errors end as one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a ConveyorError becomes a ``Failure``."""
        try:
            return super().invoke(ctx)
        except ConveyorError as exc:
            raise failure(exc) from exc


@dataclass
class Session:
    """The root options, and the client made from them on first use."""

    url: str
    token: str | None
    timeout: float
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        """The API client (closed when the command ends)."""
        if self._client is None:
            self._client = Client(self.url, token=self.token, timeout=self.timeout)
            click.get_current_context().call_on_close(self._client.close)
        return self._client


def session() -> Session:
    """The current command's session."""
    return click.get_current_context().find_object(Session)  # type: ignore[return-value]


def console() -> Console:
    """Rich console on stdout: the terminal's width (or COLUMNS), else wide when piped."""
    wide = None if sys.stdout.isatty() or "COLUMNS" in os.environ else WIDE
    return Console(width=wide, soft_wrap=False, highlight=False)


def errors() -> Console:
    """Rich console on stderr (progress bars, notes), so stdout stays the result."""
    return Console(stderr=True, highlight=False)


def emit(as_json: bool, data: Any, table: Callable[[Console], None]) -> None:
    """Write ``data`` as JSON (``--json``), or draw it with ``table``."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        table(console())


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (stable field names, docs/cli.md)."
)
