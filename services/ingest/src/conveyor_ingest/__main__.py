"""Entry point: `conveyor-ingest` (or `python -m conveyor_ingest`); `... token` mints a token."""

from __future__ import annotations

import sys

from conveyor.errors import ConfigurationError
from conveyor.service import EXIT_CONFIG, command_line, run_service
from conveyor_ingest.app import serve
from conveyor_ingest.tokens import token_command

DESCRIPTION = (
    "Conveyor's HTTP API: validates, authenticates and enqueues tasks and events, "
    "and serves the task read model, dead letters, schedules and queue statistics."
)


def main(argv: list[str] | None = None) -> int:
    """Run the ingest service until SIGTERM/SIGINT, or mint a token with ``token``."""
    parser = command_line("ingest", DESCRIPTION)
    commands = parser.add_subparsers(
        dest="command", metavar="[COMMAND]", title="commands (none: serve the API)"
    )
    # The token command parses its own options (tokens.py), so they pass through here.
    commands.add_parser(
        "token", add_help=False, help="print a signed JWT (see: conveyor-ingest token --help)"
    )
    args, rest = parser.parse_known_args(argv)
    if args.command != "token":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return run_service("ingest", serve)
    try:
        return token_command(rest)
    except ConfigurationError as exc:
        sys.stderr.write(f"conveyor-ingest: {exc}\n")
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
