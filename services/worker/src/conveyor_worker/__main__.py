"""Entry point: `conveyor-worker` or `python -m conveyor_worker`."""

from __future__ import annotations

import sys

from conveyor.service import run_service
from conveyor_worker.app import serve


def main() -> int:
    """Run the worker service until SIGTERM/SIGINT."""
    return run_service("worker", serve)


if __name__ == "__main__":
    sys.exit(main())
