"""Entry point: `conveyor-scheduler` or `python -m conveyor_scheduler`."""

from __future__ import annotations

import sys

from conveyor.service import command_line, run_service
from conveyor_scheduler.app import serve

DESCRIPTION = "Conveyor's scheduler: fires cron schedules, delayed tasks and retry timers."


def main(argv: list[str] | None = None) -> int:
    """Run the scheduler service until SIGTERM/SIGINT (``--help``, ``--version``: say and exit)."""
    command_line("scheduler", DESCRIPTION).parse_args(argv)
    return run_service("scheduler", serve)


if __name__ == "__main__":
    sys.exit(main())
