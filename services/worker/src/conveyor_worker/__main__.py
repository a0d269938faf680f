"""Entry point: `conveyor-worker` or `python -m conveyor_worker`."""

from __future__ import annotations

import sys

from conveyor.service import command_line, run_service
from conveyor_worker.app import serve

DESCRIPTION = (
    "Conveyor's worker: runs the handlers of the modules named by CONVEYOR_WORKER_HANDLERS "
    "(importable from the current folder) for the tasks of the queues in CONVEYOR_QUEUES."
)


def main(argv: list[str] | None = None) -> int:
    """Run the worker service until SIGTERM/SIGINT (``--help``, ``--version``: say and exit)."""
    command_line("worker", DESCRIPTION).parse_args(argv)
    return run_service("worker", serve)


if __name__ == "__main__":
    sys.exit(main())
