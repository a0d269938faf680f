"""Entry point: `conveyor-ingest` or `python -m conveyor_ingest`."""

from __future__ import annotations

import sys

from conveyor.service import run_service
from conveyor_ingest.app import serve


def main() -> int:
    """Run the ingest service until SIGTERM/SIGINT."""
    return run_service("ingest", serve)


if __name__ == "__main__":
    sys.exit(main())
