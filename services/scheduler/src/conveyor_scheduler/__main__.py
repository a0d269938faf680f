"""Entry point: `conveyor-scheduler` or `python -m conveyor_scheduler`."""

from __future__ import annotations

import sys

from conveyor.service import run_service
from conveyor_scheduler.app import serve


def main() -> int:
    """Run the scheduler service until SIGTERM/SIGINT."""
    return run_service("scheduler", serve)


if __name__ == "__main__":
    sys.exit(main())
