"""``DatasetResetError``: a Conveyor error that is also a redis-py ``RedisError``.

It lives apart from ``conveyor.errors`` (which re-exports it) because its redis-py base
class costs the whole redis-py import: the HTTP client and code that only handles
Conveyor's own errors must not pay it.
"""

from __future__ import annotations

from redis import exceptions as redis_errors

from conveyor.errors import ConveyorError


class DatasetResetError(ConveyorError, redis_errors.RedisError):
    """The Redis dataset this process worked with is gone; an operator must acknowledge.

    Raised by ``conveyor.dataset`` (a transient error: work resumes once acknowledged).
    """
