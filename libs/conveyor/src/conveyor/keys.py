"""Every Redis key name Conveyor uses, built from typed arguments. Nowhere else.

Layout: ``<prefix>:{<tag>}:<name>``. All keys of one queue share the hash tag
``{<queue>}``, so every atomic step of a queue (a Lua script or MULTI/EXEC)
touches one slot and runs unchanged on Redis Cluster.

Streams are the only keys two services share. Every other key carries its
owning service in its name (``i:`` ingest, ``s:`` scheduler, ``w:`` worker),
which is what the per-service ACL patterns in ``deploy/redis/users.acl`` match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from conveyor.settings import QUEUE_NAME

SCHEDULES_TAG = "_schedules"
# A run-time part (task id, effect name, subject) must not open or close a hash
# tag, or it could move a key to another slot or past an ACL owner pattern.
_TAG_BRACES = frozenset("{}")
CLIENTS_TAG = "_clients"


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue, all in the queue's hash slot."""

    prefix: str
    queue: str

    @property
    def tag(self) -> str:
        """The key stem shared by every key of this queue, e.g. ``conveyor:{default}``."""
        return f"{self.prefix}:{{{self.queue}}}"

    # Streams (shared between services).
    @property
    def tasks(self) -> str:
        """Stream of runnable tasks: ingest and scheduler write, workers read."""
        return f"{self.tag}:tasks"

    @property
    def events(self) -> str:
        """Stream of task lifecycle events: workers and ingest write, ingest reads."""
        return f"{self.tag}:events"

    @property
    def timers_in(self) -> str:
        """Stream of delayed tasks and retry timers: ingest and workers write, scheduler reads."""
        return f"{self.tag}:timers-in"

    @property
    def dead(self) -> str:
        """Dead-letter stream: workers write, ingest reads and replays."""
        return f"{self.tag}:dead"

    @property
    def control(self) -> str:
        """Stream of task changes and cancellations: ingest writes, worker and scheduler read."""
        return f"{self.tag}:control"

    # Scheduler-owned keys.
    @property
    def timer_index(self) -> str:
        """Sorted set of timer ids by due time (ms)."""
        return f"{self.tag}:s:timers"

    @property
    def timer_entries(self) -> str:
        """Hash of timer id -> encoded task fields."""
        return f"{self.tag}:s:timer-entries"

    def fire_dedup(self, schedule_id: str, instant_ms: int) -> str:
        """Marker that the fire of ``schedule_id`` at UTC ``instant_ms`` has happened."""
        return f"{self.tag}:s:fired:{_part(schedule_id)}:{instant_ms}"

    @property
    def last_fired(self) -> str:
        """Hash of schedule id -> last fired instant (ms) of schedules targeting this queue.

        Kept in the queue's slot so a fire's dedup key, its XADD and this progress
        mark are one atomic step.
        """
        return f"{self.tag}:s:last-fired"

    # Worker-owned keys.
    def effect_mark(self, idempotency_key: str) -> str:
        """Exactly-once mark of a task's committed effects; holds its stored result."""
        return f"{self.tag}:w:done:{_part(idempotency_key)}"

    def effect_key(self, name: str) -> str:
        """A key written by handlers through the effect API, kept in the queue's slot."""
        return f"{self.tag}:w:fx:{_part(name)}"

    @property
    def cancelled(self) -> str:
        """Worker's set of cancelled task ids (with expiry kept per member by score)."""
        return f"{self.tag}:w:cancelled"

    @property
    def janitor_lease(self) -> str:
        """Lease that lets one worker process at a time run the janitor for this queue."""
        return f"{self.tag}:w:janitor"

    # Ingest-owned keys.
    def idempotency(self, subject: str, key: str) -> str:
        """Stored response of a request made with an Idempotency-Key by ``subject``."""
        return f"{self.tag}:i:idem:{_part(subject)}:{_part(key)}"

    def task_status(self, task_id: str) -> str:
        """Read-model hash of one task."""
        return f"{self.tag}:i:task:{_part(task_id)}"

    def task_statuses(self, task_ids: Iterable[str]) -> list[str]:
        """``task_status`` of many ids (a batch's records), with one prefix built once."""
        head = f"{self.tag}:i:task:"
        return [
            head + task_id if "{" not in task_id and "}" not in task_id else _part(task_id)
            for task_id in task_ids
        ]

    def accepted(self, bucket: int) -> str:
        """Read-model hash of the tasks accepted in one time bucket: task id -> compact record."""
        return f"{self.tag}:i:accepted:{bucket:d}"

    @property
    def status_index(self) -> str:
        """Read-model sorted set of task ids by creation time, for listings."""
        return f"{self.tag}:i:tasks"


@dataclass(frozen=True, slots=True)
class Keys:
    """Builds keys for one deployment (one prefix and its configured queues)."""

    prefix: str
    queues: tuple[str, ...] = ("default",)

    def queue(self, name: str) -> QueueKeys:
        """Keys of queue ``name``; rejects names that would break the key layout."""
        if not QUEUE_NAME.match(name):
            msg = f"invalid queue name {name!r}"
            raise ValueError(msg)
        return QueueKeys(self.prefix, name)

    def all_queues(self) -> list[QueueKeys]:
        """Keys of every configured queue."""
        return [QueueKeys(self.prefix, name) for name in self.queues]

    # Schedules (one slot: definitions are few and change rarely).
    @property
    def schedule_changes(self) -> str:
        """Stream of schedule create/update/delete requests: ingest writes, scheduler reads."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:changes"

    @property
    def schedule_applied(self) -> str:
        """Stream of applied schedule changes: scheduler writes, ingest reads."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:applied"

    @property
    def schedule_store(self) -> str:
        """Scheduler's hash of schedule id -> definition (JSON)."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:s:store"

    @property
    def schedule_lease(self) -> str:
        """Scheduler lease that lets one replica do the firing work normally."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:s:lease"

    @property
    def schedule_listing(self) -> str:
        """Ingest's read copy of the schedules (hash id -> JSON)."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:i:list"

    def rate_limit(self, subject: str) -> str:
        """Ingest's rate-limit state of one client."""
        return f"{self.prefix}:{{{CLIENTS_TAG}}}:i:rate:{_part(subject)}"


def _part(value: str) -> str:
    if _TAG_BRACES.intersection(value):
        msg = f"key part {value!r} must not contain '{{' or '}}'"
        raise ValueError(msg)
    return value
