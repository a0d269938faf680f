"""``Client``: the blocking client (real blocking redis-py or httpx calls, thread-safe)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, Unpack, overload

from conveyor.client import _flows
from conveyor.client._admin import DeadLetters, Schedules
from conveyor.client._ops import Queues, TaskPage, Workers, task_page
from conveyor.client._transport import (
    EnqueueOptions,
    TaskChanges,
    config,
    direct_core,
    given_changes,
    http_options,
    items,
    redis_settings,
)
from conveyor.client._views import Accepted, TaskView
from conveyor.errors import WaitTimeoutError

if TYPE_CHECKING:
    from conveyor.client._flows import WorkflowView

    # pydantic loads only with a declaration in use
    from conveyor.declarations import TaskDeclaration
    from conveyor.workflows import Workflow

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TaskRef(Generic[R]):
    """A task the client enqueued: its id, and its result when it has one."""

    id: str
    queue: str
    status: Any  # TaskStatus when accepted
    client: Client
    declaration: TaskDeclaration[Any, R] | None = None

    def get(self) -> TaskView:
        """The task as the read model shows it now."""
        return self.client.get(self.id)

    def result(self, timeout: float = math.inf) -> R:
        """Wait for the task's result, parsed as the declared result type.

        Raises TaskDeadError or TaskCancelledError when it has none, WaitTimeoutError
        when it is not finished after ``timeout`` seconds.
        """
        task = self.client.wait(self.id, timeout)
        return _result(task, self.declaration, timeout)

    def cancel(self) -> None:
        """Cancel the task if it has not started (ConflictError once it has)."""
        self.client.cancel(self.id)


def _result(task: TaskView, declaration: TaskDeclaration[Any, R] | None, timeout: float) -> R:
    if not task.done:
        msg = f"task {task.id} is still {task.status} after {timeout:g} s"
        raise WaitTimeoutError(msg)
    value = task.outcome()
    if declaration is None:
        untyped: R = value
        return untyped
    return declaration.parse_result(value)


class Client:
    """The blocking Conveyor client; the transport follows the URL.

    ``redis://``, ``rediss://``, ``unix://``: Redis itself, through the write path
    ingest uses (key layout, partitions, Sentinel or Cluster from the same
    ``CONVEYOR_*`` settings as the services, or ``settings=``). ``http://``,
    ``https://``: the ingest API with bearer ``token``. Defaults: ``CONVEYOR_URL``,
    ``CONVEYOR_TOKEN``. One client can be shared by threads.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        settings: Any = None,
        subject: str = "client",
    ) -> None:
        self._config = cfg = config(url, token, timeout, subject, settings)
        if cfg.is_http:
            import httpx

            from conveyor.client._http import BlockingHttpRunner, HttpCore

            http = httpx.Client(**http_options(cfg))
            self._core: Any = HttpCore()
            self._runner: Any = BlockingHttpRunner(http)
        else:
            from conveyor.client._redis import BlockingRunner
            from conveyor.connection import create_blocking_client

            found = redis_settings(cfg.url, settings)
            self._core = direct_core(cfg, found)
            client = create_blocking_client(found, socket_timeout=timeout)
            self._runner = BlockingRunner(client)
        self.schedules = Schedules(self._runner, cfg.is_http)
        self.dead_letters = DeadLetters(self._runner, cfg.is_http)
        self.queues = Queues(self._runner, cfg.is_http)
        self.workers = Workers(self._runner, cfg.is_http)

    @overload
    def enqueue(
        self, task: TaskDeclaration[P, R], payload: P, **options: Unpack[EnqueueOptions]
    ) -> TaskRef[R]: ...
    @overload
    def enqueue(
        self, task: str, payload: Any = None, **options: Unpack[EnqueueOptions]
    ) -> TaskRef[Any]: ...
    def enqueue(
        self,
        task: TaskDeclaration[Any, Any] | str,
        payload: Any = None,
        **options: Unpack[EnqueueOptions],
    ) -> TaskRef[Any]:
        """Enqueue one task (by declaration or by type name); its reference."""
        wanted = items(task, [payload], options)
        (accepted,) = self._runner.run(self._core.enqueue(wanted, options.get("idempotency_key")))
        return self._ref(accepted, task)

    @overload
    def enqueue_many(
        self, task: TaskDeclaration[P, R], payloads: Iterable[P], **options: Unpack[EnqueueOptions]
    ) -> list[TaskRef[R]]: ...
    @overload
    def enqueue_many(
        self, task: str, payloads: Iterable[Any], **options: Unpack[EnqueueOptions]
    ) -> list[TaskRef[Any]]: ...
    def enqueue_many(
        self,
        task: TaskDeclaration[Any, Any] | str,
        payloads: Iterable[Any],
        **options: Unpack[EnqueueOptions],
    ) -> list[TaskRef[Any]]:
        """Enqueue many tasks of one type, atomically per queue partition (like the batch
        route); one idempotency key covers the whole call."""
        wanted = items(task, list(payloads), options)
        done = self._runner.run(self._core.enqueue(wanted, options.get("idempotency_key")))
        return [self._ref(accepted, task) for accepted in done]

    def _ref(self, accepted: Accepted, task: TaskDeclaration[Any, Any] | str) -> TaskRef[Any]:
        declaration = None if isinstance(task, str) else task
        return TaskRef(accepted.id, accepted.queue, accepted.status, self, declaration)

    def get(self, task_id: str) -> TaskView:
        """The task as the read model shows it (NotFoundError when it has no record)."""
        view: TaskView = self._runner.run(self._core.get(task_id))
        return view

    def wait(self, task_id: str, timeout: float = math.inf) -> TaskView:
        """The task once it is finished, or as it is after ``timeout`` seconds."""
        view: TaskView = self._runner.run(self._core.wait(task_id, timeout))
        return view

    def cancel(self, task_id: str) -> None:
        """Cancel a task that has not started (ConflictError once it has)."""
        self._runner.run(self._core.cancel(task_id))

    def change(self, task_id: str, **changes: Unpack[TaskChanges]) -> int:
        """Change a task that has not started: ``payload``, ``delay`` or ``run_at``,
        ``max_attempts``, ``timeout`` (None removes an option). Its new revision."""
        revision: int = self._runner.run(self._core.change(task_id, given_changes(changes)))
        return revision

    def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """One page of tasks, newest first, filtered as GET /api/v1/tasks (HTTP only)."""
        plan = task_page(
            self._config.is_http,
            queue=queue,
            status=status,
            type=type,
            limit=limit,
            cursor=cursor,
        )
        page: TaskPage = self._runner.run(plan)
        return page

    def enqueue_workflow(
        self, flow: Workflow, *, queue: str = "default", idempotency_key: str | None = None
    ) -> WorkflowView:
        """Create a workflow (``chain``, ``group``, ``chord``): its first tasks are enqueued
        in one atomic write; one idempotency key gives one workflow. See docs/workflows.md."""
        plan = _flows.create(self._core, flow, queue, idempotency_key)
        created: WorkflowView = self._runner.run(plan)
        return created

    def get_workflow(self, workflow_id: str, queue: str = "default") -> WorkflowView:
        """The workflow with each step's state (NotFoundError when it has no record)."""
        found: WorkflowView = self._runner.run(_flows.get(self._core, workflow_id, queue))
        return found

    def cancel_workflow(self, workflow_id: str, queue: str = "default") -> int:
        """Cancel the steps of a workflow that have not started; how many were cancelled."""
        done: int = self._runner.run(_flows.cancel(self._core, workflow_id, queue))
        return done

    def close(self) -> None:
        """Close the client's connections."""
        self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
