"""Entry point: `conveyor-ingest` (or `python -m conveyor_ingest`); `... token` mints a token."""

from __future__ import annotations

import sys

from conveyor.errors import ConfigurationError
from conveyor.service import EXIT_CONFIG, run_service
from conveyor_ingest.app import serve
from conveyor_ingest.tokens import token_command


def main() -> int:
    """Run the ingest service until SIGTERM/SIGINT, or mint a token with ``token``."""
    if len(sys.argv) > 1 and sys.argv[1] == "token":
        try:
            return token_command(sys.argv[2:])
        except ConfigurationError as exc:
            sys.stderr.write(f"conveyor-ingest: {exc}\n")
            return EXIT_CONFIG
    return run_service("ingest", serve)


if __name__ == "__main__":
    sys.exit(main())
