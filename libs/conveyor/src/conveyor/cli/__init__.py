"""``conveyor``: the operator command line (``pip install 'conveyor-tasks[cli]'``).

Queues, tasks, dead letters, schedules, workers and dev tokens, through the ingest
API with the client's HTTP transport. Tables on a terminal, ``--json`` for scripts;
exit codes 0 ok, 1 failure, 2 usage or configuration. See docs/cli.md.
"""

from __future__ import annotations


def main() -> None:
    """The console script's entry point."""
    from conveyor.cli._root import cli

    cli(prog_name="conveyor")
