"""``conveyor token``: a dev token signed with the key the ingest API uses."""

from __future__ import annotations

import click

from conveyor.settings import load_settings
from conveyor.tokens import DEFAULT_TTL_S, TokenSettings, command_token


@click.command()
@click.option("--sub", required=True, help="The client's name (JWT sub).")
@click.option(
    "--scope",
    default="tasks:write tasks:read",
    show_default=True,
    help="Space-separated scopes (admin for dlq, queues, workers).",
)
@click.option(
    "--ttl", type=click.IntRange(min=1), default=DEFAULT_TTL_S, show_default=True, help="Seconds."
)
def token(sub: str, scope: str, ttl: int) -> None:
    """Print a token signed with CONVEYOR_INGEST_JWT_SECRET or the dev key file
    (as `conveyor-ingest token`); stderr says which key signed it."""
    if not sub.strip():
        raise click.BadParameter(
            "must name the client; an empty or blank subject is refused", param_hint="--sub"
        )
    settings = load_settings(TokenSettings)
    click.echo(command_token(settings, "conveyor token", sub, scope, ttl))
