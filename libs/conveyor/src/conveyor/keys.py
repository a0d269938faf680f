"""Every Redis key name Conveyor uses, built from typed arguments. Nowhere else.

Layout: ``<prefix>:{<tag>}:<name>``. All keys of one queue partition (a "shard")
share one hash tag, so every atomic step (a Lua script or MULTI/EXEC) touches one
slot and runs unchanged on Redis Cluster. Partition 0 of a queue has the tag
``{<queue>}`` (an unpartitioned queue is its partition 0); partition p > 0 has
``{<queue>~<p>}``. Queue names cannot contain ``~``, so a shard tag never equals
a queue's tag, and partitions of one queue land in different slots.

Streams are the only keys two services share. Every other key carries its
owning service in its name (``i:`` ingest, ``s:`` scheduler, ``w:`` worker),
which is what the per-service ACL patterns in ``deploy/redis/users.acl`` match.

Run-time strings never make two names equal. A key with one run-time part puts it
last, after a fixed stem, so the part is the rest of the name. Several run-time parts
(a client's subject and its Idempotency-Key, an event's source and id) are joined
as a *scope*: each part escaped (``%`` -> ``%25``, ``:`` -> ``%3A``, ``{`` -> ``%7B``,
``}`` -> ``%7D``) and the parts joined with ``:``, so the escaped parts hold no
separator and the joined text names one tuple of parts. A part with none of those
four characters is written as is, so the scopes of such parts read as they always did.
Scopes made by Conveyor itself (event, schedule fire, replay) start with an empty
part; a client's subject is never empty (the token verifier refuses it).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

# What a queue name may be, and how many partitions a queue may have (settings and the
# API validate with these; defined here so key names need no settings import).
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PARTITIONS = 256

SCHEDULES_TAG = "_schedules"
# Priority levels, highest first (conveyor.priority names them; kept here as text so
# the key registry imports nothing but settings).
_LEVELS = ("high", "normal", "low")
# A run-time part (task id, effect name, subject) must not open or close a hash
# tag, or it could move a key to another slot or past an ACL owner pattern.
_TAG_BRACES = frozenset("{}")
CLIENTS_TAG = "_clients"
DATASET_TAG = "_dataset"
WORKERS_TAG = "_workers"
QUEUES_TAG = "_queues"
HISTORY_TAG = "_history"
LIMITS_TAG = "_limits"
# The services, and the owner segment of the keys each owns.
SERVICES = ("ingest", "scheduler", "worker")
_OWNER_SEGMENT = {"ingest": "i", "scheduler": "s", "worker": "w"}
# Separates a queue name from its partition number in a shard tag; QUEUE_NAME forbids it.
PARTITION_SEPARATOR = "~"
# The subject of Conveyor's own scopes: no client has it (tokens with an empty sub are refused).
SYSTEM_SUBJECT = ""
SCOPE_SEPARATOR = ":"
_SCOPE_ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})


def scope(first: str, *rest: str) -> str:
    """The parts as one unambiguous key part: each escaped, joined with ``:``.

    Distinct tuples of parts give distinct scopes, and a scope holds no brace, so it
    can never open or close a hash tag.
    """
    escaped = [part.translate(_SCOPE_ESCAPES) for part in rest]
    return SCOPE_SEPARATOR.join([first.translate(_SCOPE_ESCAPES), *escaped])


def request_scope(subject: str, key: str, index: int | None = None) -> str:
    """The scope of a client's request made with an Idempotency-Key (``index``: batch item).

    It keys the request's stored answer (``QueueKeys.idempotency``) and is the effect
    idempotency key of the tasks the request made.
    """
    if index is None:
        return scope(subject, key)
    return scope(subject, key, str(index))


def event_scope(source: str, event_id: str) -> str:
    """Effect idempotency key of the task made from a CloudEvent (``source`` + ``id``)."""
    return scope(SYSTEM_SUBJECT, "event", source, event_id)


def fire_scope(schedule_id: str, instant_ms: int) -> str:
    """Effect idempotency key of the task a schedule fired at UTC ``instant_ms``."""
    return scope(SYSTEM_SUBJECT, "schedule", schedule_id, str(instant_ms))


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue partition (a shard), all in the shard's hash slot."""

    prefix: str
    queue: str
    partition: int = 0
    # The priority level whose task stream ``tasks`` names (conveyor.priority); the
    # other keys are the partition's, whatever the level.
    level: str = "normal"

    @property
    def shard(self) -> str:
        """The shard's name and hash tag: ``<queue>`` for partition 0, else ``<queue>~<p>``."""
        if self.partition == 0:
            return self.queue
        return f"{self.queue}{PARTITION_SEPARATOR}{self.partition}"

    @property
    def tag(self) -> str:
        """The key stem shared by every key of this shard, e.g. ``conveyor:{default}``."""
        return f"{self.prefix}:{{{self.shard}}}"

    # Streams (shared between services).
    @property
    def tasks(self) -> str:
        """Stream of runnable tasks of ``level``: ingest and scheduler write, workers read.

        ``normal`` is ``<tag>:tasks``; another level is ``<tag>:tasks:<level>``.
        """
        if self.level == "normal":
            return f"{self.tag}:tasks"
        return f"{self.tag}:tasks:{self.level}"

    def at_level(self, level: str) -> QueueKeys:
        """The same partition's keys with ``tasks`` naming the stream of ``level``."""
        if level not in _LEVELS:
            msg = f"unknown priority level {level!r}"
            raise ValueError(msg)
        if level == self.level:
            return self
        return QueueKeys(self.prefix, self.queue, self.partition, level)

    @property
    def level_streams(self) -> tuple[str, ...]:
        """The task streams of every level of this partition, highest level first."""
        return tuple(self.at_level(level).tasks for level in _LEVELS)

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

    @property
    def replaces(self) -> str:
        """Hash of task id -> ``<revision> <at ms> <changes JSON>``: a PUT that found no timer.

        The scheduler's own record of a replace that reached it before the task's timer
        was filed; intake applies it when it files that timer, then deletes it.
        """
        return f"{self.tag}:s:replaces"

    @property
    def replaces_expiry(self) -> str:
        """Sorted set of task id -> expiry (ms) of its ``replaces`` record."""
        return f"{self.tag}:s:replaces-expiry"

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
    def replaced(self) -> str:
        """Worker's hash of task id -> ``<revision> <changes JSON>`` of changed tasks.

        Each id is also a member of ``cancelled`` (same expiry): the set's size stays
        the one number that tells a worker whether any start needs checking.
        """
        return f"{self.tag}:w:replaced"

    def workflow_state(self, workflow_id: str) -> str:
        """Worker's hash of one workflow's finished steps and chord counts (conveyor.workflows)."""
        return f"{self.tag}:w:workflow:{_part(workflow_id)}"

    @property
    def janitor_lease(self) -> str:
        """Lease that lets one worker process at a time run the janitor for this queue."""
        return f"{self.tag}:w:janitor"

    # Ingest-owned keys.
    def idempotency(self, subject: str, key: str) -> str:
        """Stored response of a request made with an Idempotency-Key by ``subject``.

        Keyed by ``request_scope(subject, key)``: subject ``a`` with key ``b:c`` and
        subject ``a:b`` with key ``c`` are two records.
        """
        return f"{self.tag}:i:idem:{request_scope(subject, key)}"

    def workflow_record(self, workflow_id: str) -> str:
        """A workflow's definition as created (its steps' ids, types and roles), for GET."""
        return f"{self.tag}:i:workflow:{_part(workflow_id)}"

    def task_status(self, task_id: str) -> str:
        """Read-model hash of one task."""
        return f"{self.tag}:i:task:{_part(task_id)}"

    def accepted(self, bucket: int) -> str:
        """Read-model hash of the tasks accepted in one time bucket: task id -> compact record."""
        return f"{self.tag}:i:accepted:{bucket:d}"

    @property
    def status_index(self) -> str:
        """Read-model sorted set of task ids by creation time, for listings."""
        return f"{self.tag}:i:tasks"

    @property
    def counters(self) -> str:
        """Hash of outcome -> events counted since the dataset began (succeeded, retried, ...).

        Incremented by the read model's apply script in the step that XACKs the event.
        """
        return f"{self.tag}:i:counters"


@dataclass(frozen=True, slots=True)
class Keys:
    """Builds keys for one deployment (one prefix, its queues and their partitions)."""

    prefix: str
    queues: tuple[str, ...] = ("default",)
    # (queue, partition count) pairs; a queue not named here has one partition.
    partitions: tuple[tuple[str, int], ...] = ()

    def queue(self, name: str) -> QueueKeys:
        """Keys of queue ``name`` (its partition 0), or of the shard ``<queue>~<p>``.

        Rejects names that would break the key layout, and partitions the
        configuration does not give the queue.
        """
        queue, sep, number = name.partition(PARTITION_SEPARATOR)
        if not QUEUE_NAME.match(queue) or (sep and not _partition_number(number)):
            msg = f"invalid queue name {name!r}"
            raise ValueError(msg)
        partition = int(number) if sep else 0
        if partition >= self.partition_count(queue):
            msg = f"queue {queue!r} has no partition {partition}"
            raise ValueError(msg)
        return QueueKeys(self.prefix, queue, partition)

    def partition_count(self, queue: str) -> int:
        """How many partitions ``queue`` has (1 unless configured)."""
        for name, count in self.partitions:
            if name == queue:
                return count
        return 1

    def shards(self, queue: str) -> list[QueueKeys]:
        """Keys of every partition of ``queue``, partition 0 first."""
        return [QueueKeys(self.prefix, queue, p) for p in range(self.partition_count(queue))]

    def all_queues(self) -> list[QueueKeys]:
        """Keys of every partition of every configured queue: what consumers read."""
        return [shard for name in self.queues for shard in self.shards(name)]

    def route(self, queue: str, partition_key: str) -> QueueKeys:
        """The shard of ``queue`` that ``partition_key`` belongs to.

        CRC-32 of the key modulo the partition count: stable across processes,
        restarts and languages (Python's ``hash()`` is salted per process), so
        every ingest and scheduler process sends one key to one partition.
        """
        count = self.partition_count(queue)
        if count == 1:
            return QueueKeys(self.prefix, queue)
        return QueueKeys(self.prefix, queue, zlib.crc32(partition_key.encode()) % count)

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
    def schedule_file_ids(self) -> str:
        """Scheduler's set of schedule ids that the schedules file owns (last applied)."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:s:file-ids"

    @property
    def schedule_retimed(self) -> str:
        """Scheduler's hash of schedule id -> when (ms) its timing last changed.

        Instants of the new timing before that moment were never due: not fired, not missed.
        """
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:s:retimed"

    @property
    def schedule_lease(self) -> str:
        """Scheduler lease that lets one replica do the firing work normally."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:s:lease"

    @property
    def schedule_listing(self) -> str:
        """Ingest's read copy of the schedules (hash id -> JSON)."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:i:list"

    @property
    def schedule_pending(self) -> str:
        """Ingest's hash of schedule id -> ``seq`` of the newest API change it accepted
        whose applied copy has not come back yet (the listing shows that change already)."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:i:pending"

    @property
    def schedule_seq(self) -> str:
        """Ingest's counter numbering the schedule changes it accepts (``seq``)."""
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:i:seq"

    # Operator state (one slot each: a handful of small keys).
    def worker_heartbeat(self, consumer: str) -> str:
        """Worker's hash describing one live worker process; expires unless refreshed."""
        return f"{self.prefix}:{{{WORKERS_TAG}}}:w:worker:{_part(consumer)}"

    @property
    def worker_index(self) -> str:
        """Workers' sorted set of consumer names by last heartbeat (ms): what lists them."""
        return f"{self.prefix}:{{{WORKERS_TAG}}}:w:workers"

    @property
    def paused_queues(self) -> str:
        """Ingest's hash of paused queue name -> JSON (since when, by whom); workers read it."""
        return f"{self.prefix}:{{{QUEUES_TAG}}}:i:paused"

    def history(self, queue: str) -> str:
        """Ingest's per-minute figures of one queue: sorted set by minute (ms), last hour kept."""
        return f"{self.prefix}:{{{HISTORY_TAG}}}:i:series:{_part(queue)}"

    @property
    def history_lease(self) -> str:
        """Lease that lets one ingest process at a time sample the queues' history."""
        return f"{self.prefix}:{{{HISTORY_TAG}}}:i:lease"

    def rate_limit(self, subject: str) -> str:
        """Ingest's rate-limit state of one client."""
        return f"{self.prefix}:{{{CLIENTS_TAG}}}:i:rate:{_part(subject)}"

    @property
    def limits(self) -> str:
        """Stream of run-time limits documents (conveyor.limits): ingest writes, worker reads.

        Its last entry is the document in force; the entries before it, the audit trail.
        """
        return f"{self.prefix}:{{{LIMITS_TAG}}}:limits"

    def type_rate(self, task_type: str) -> str:
        """Worker's GCRA state of one task type's rate limit (shared by every worker)."""
        return f"{self.prefix}:{{{LIMITS_TAG}}}:w:rate:{_part(task_type)}"

    def type_reservations(self, task_type: str) -> str:
        """Worker's sorted set of task id -> rate-limit slot (us) of deferred tasks of a type."""
        return f"{self.prefix}:{{{LIMITS_TAG}}}:w:reserved:{_part(task_type)}"

    def dataset_identity(self, service: str) -> str:
        """A service's dataset identity (conveyor.dataset): written once, owned by it."""
        return f"{self.prefix}:{{{DATASET_TAG}}}:{_OWNER_SEGMENT[service]}:dataset"


def _partition_number(text: str) -> bool:
    # Canonical decimal only ("1", not "01" or "+1"): one shard, one name.
    if not (text.isascii() and text.isdigit()):
        return False
    return text == str(int(text)) and 0 < int(text) < MAX_PARTITIONS


def _part(value: str) -> str:
    if _TAG_BRACES.intersection(value):
        msg = f"key part {value!r} must not contain '{{' or '}}'"
        raise ValueError(msg)
    return value
