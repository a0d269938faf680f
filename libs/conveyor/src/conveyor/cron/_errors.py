"""The one exception the cron package raises."""

from __future__ import annotations

from conveyor.errors import ConveyorError


class CronError(ConveyorError, ValueError):
    """A cron expression, time zone or argument is invalid.

    `subject` names what is wrong (a field such as "minute field", the
    "expression", the "timezone") and `problem` says why, so an API can point
    at the culprit; str() reads "minute field: 61 is out of range 0-59".
    """

    def __init__(self, subject: str, problem: str) -> None:
        super().__init__(f"{subject}: {problem}")
        self.subject = subject
        self.problem = problem
