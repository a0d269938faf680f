"""The direct transport: the library's write path against Redis, with no service between.

Enqueue, cancel and change run the same Lua scripts, built by the same functions
(``conveyor.producing``), as ingest's routes: one atomic step writes the tasks,
their read-model records and the idempotent answer, so ``get`` right after
``enqueue`` finds the task, and any number of retries with one idempotency key
give one task. Ingest's authentication, rate limits and backlog shedding are not
on this path (see docs/client.md).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from conveyor.client._plans import Plan, ReadRecord, Sleep
from conveyor.client._views import Accepted, TaskItem, TaskView
from conveyor.errors import ConflictError, InvalidTaskError, NotFoundError
from conveyor.keys import Keys, QueueKeys
from conveyor.producing import tasks as producing
from conveyor.producing.tasks import (
    Idempotency,
    NewTask,
    Stored,
    accepted,
    check_idempotency_key,
    effect_key,
    fingerprint,
    now_ms,
    route_tasks,
    status_of,
)
from conveyor.producing.writes import TaskWrites, change_outcome, producer_spans, stored_answer
from conveyor.records import view
from conveyor.status import TaskStatus
from conveyor.telemetry.spans import tracing_installed

_STATUS = {status.value: status for status in TaskStatus}

ORIGIN = "client"
SOURCE = "/client"
POLL_S = 0.05
KEY_LOC = "idempotency_key"


@dataclass(frozen=True, slots=True)
class DirectCore:
    """The client's operations as plans of script calls and record reads."""

    keys: Keys
    writes: TaskWrites
    subject: str
    max_delay: float

    def enqueue(self, items: Sequence[TaskItem], key: str | None) -> Plan[list[Accepted]]:
        """Write ``items`` (atomic per queue partition); one idempotency key: one write."""
        now = now_ms()
        tasks = [self._task(item, key, index, len(items), now) for index, item in enumerate(items)]
        idem = self._idempotency(items, key)
        by_queue: dict[str, list[NewTask]] = defaultdict(list)
        for task in tasks:
            by_queue[task.envelope.queue].append(task)
        if idem is not None and len(by_queue) > 1:
            message = "a batch with an Idempotency-Key must target one queue"
            msg = "invalid batch"
            raise InvalidTaskError(msg, [{"loc": KEY_LOC, "msg": message}])
        answer = "" if idem is None else _answer(tasks)
        for queue, queued in by_queue.items():
            for shard, shard_tasks in route_tasks(self.keys, queue, queued, idem, KEY_LOC).items():
                stored = yield from self._write(shard, shard_tasks, idem, answer, now)
                if stored is not None:
                    return _replayed(stored.fingerprint, stored.text, idem)
        return [Accepted(t.envelope.id, t.envelope.queue, _status(t)) for t in tasks]

    def _write(
        self, shard: str, tasks: list[NewTask], idem: Idempotency | None, answer: str, now: int
    ) -> Plan[Stored | None]:
        """One partition's write, inside the tasks' PRODUCER spans when tracing is on."""
        if not tracing_installed():  # the common case: no span machinery per task
            call = self.writes.enqueue(shard, tasks, idem, (202, answer), now)
            return stored_answer((yield call))
        with producer_spans(self.keys.queue(shard), tasks) as sent:
            call = self.writes.enqueue(shard, sent, idem, (202, answer), now)
            return stored_answer((yield call))

    def _task(self, item: TaskItem, key: str | None, index: int, count: int, now: int) -> NewTask:
        loc = "body" if count == 1 else f"tasks.{index}"
        task = producing.new_task(
            item.type,
            item.payload,
            item.queue,
            subject=self.subject,
            origin=ORIGIN,
            source=SOURCE,
            max_attempts=item.max_attempts,
            timeout=item.timeout,
            partition_key=item.partition_key,
            priority=item.priority or "",
            idempotency_key=effect_key(self.subject, key, None if count == 1 else index),
            loc=loc,
        )
        if item.delay is None and item.run_at is None:
            return task
        return replace(
            task, due_ms=producing.due_ms(item.delay, item.run_at, self.max_delay, now, loc)
        )

    def _idempotency(self, items: Sequence[TaskItem], key: str | None) -> Idempotency | None:
        if key is None:
            return None
        check_idempotency_key(key, KEY_LOC)
        body = json.dumps([item.body() for item in items], sort_keys=True).encode()
        return Idempotency(self.subject, key, fingerprint(SOURCE, body))

    def get(self, task_id: str) -> Plan[TaskView]:
        """The task's view; NotFoundError when no configured queue has its record."""
        found = yield ReadRecord(self.keys.all_queues(), task_id)
        if found is None:
            raise _not_found(task_id)
        return TaskView.from_api(view(found[1]))

    def wait(self, task_id: str, timeout: float) -> Plan[TaskView]:
        """The task's view once it is finished, or as it is when ``timeout`` s have passed."""
        deadline = time.monotonic() + timeout
        while True:
            task = yield from self.get(task_id)
            left = deadline - time.monotonic()
            if task.done or left <= 0:
                return task
            yield Sleep(min(POLL_S, left))

    def cancel(self, task_id: str) -> Plan[None]:
        """Cancel a task that has not started; ConflictError once it has."""
        shard = yield from self._shard(task_id)
        now = now_ms()
        until = now + int(self.max_delay * 1000)
        outcome, _ = change_outcome((yield self.writes.cancel(shard.shard, task_id, until, now)))
        if outcome not in ("ok", TaskStatus.CANCELLED.value):
            _refuse(task_id, outcome, "only a pending or scheduled task can be cancelled")

    def change(self, task_id: str, given: dict[str, Any]) -> Plan[int]:
        """Change a task that has not started; returns its new revision."""
        shard = yield from self._shard(task_id)
        now = now_ms()
        changes = producing.task_changes(given, self.max_delay, now)
        until = now + int(self.max_delay * 1000)
        call = self.writes.replace(shard.shard, task_id, changes, until, now)
        outcome, revision = change_outcome((yield call))
        if outcome != "ok":
            _refuse(task_id, outcome, "only a task that has not started can be changed")
        return revision

    def _shard(self, task_id: str) -> Plan[QueueKeys]:
        found = yield ReadRecord(self.keys.all_queues(), task_id)
        if found is None:
            raise _not_found(task_id)
        shard: QueueKeys = found[0]
        return shard


def _status(task: NewTask) -> TaskStatus:
    return _STATUS[status_of(task)]


def _refuse(task_id: str, outcome: str, rule: str) -> None:
    if outcome == "missing":
        raise _not_found(task_id)
    msg = f"task is {outcome}: {rule}"
    raise ConflictError(msg)


def _not_found(task_id: str) -> NotFoundError:
    msg = f"task {task_id!r} not found (or expired from the read model)"
    return NotFoundError(msg)


def _answer(tasks: Sequence[NewTask]) -> str:
    """The answer stored under an idempotency key: the API's 202 envelope of the tasks."""
    if len(tasks) == 1:
        data: Any = accepted(tasks[0])
    else:
        items = [{"index": i, **accepted(task)} for i, task in enumerate(tasks)]
        data = {"accepted": len(tasks), "items": items}
    return json.dumps({"code": 202, "message": "accepted", "data": data}, separators=(",", ":"))


def _replayed(stored: str, text: str, idem: Idempotency | None) -> list[Accepted]:
    """The tasks of the first write under this idempotency key."""
    if idem is None or stored != idem.fingerprint:
        message = "the key was already used with different tasks"
        msg = "Idempotency-Key was already used with a different request body"
        raise InvalidTaskError(msg, [{"loc": KEY_LOC, "msg": message}])
    data = json.loads(text)["data"]
    items = data.get("items", [data])
    return [Accepted.from_api(item) for item in items]
