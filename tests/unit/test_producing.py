"""The library's write path as plain values: due times, keys, routing, changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conveyor.errors import InvalidTaskError
from conveyor.keys import Keys
from conveyor.producing.tasks import (
    Idempotency,
    check_idempotency_key,
    due_ms,
    effect_key,
    new_task,
    route_tasks,
    task_changes,
)
from conveyor.producing.writes import change_outcome, stored_answer

NOW = 1_700_000_000_000


def test_due_ms_is_none_now_and_refuses_too_far_with_the_field_path() -> None:
    assert due_ms(None, None, 60, NOW) is None
    assert due_ms(0, None, 60, NOW) is None
    assert due_ms(1.5, None, 60, NOW) == NOW + 1500
    run_at = datetime.fromtimestamp(NOW / 1000 + 2, tz=UTC)
    assert due_ms(None, run_at, 60, NOW) == NOW + 2000
    with pytest.raises(InvalidTaskError) as caught:
        due_ms(61, None, 60, NOW, "tasks.3")
    assert caught.value.errors == [
        {"loc": "tasks.3", "msg": "the task would wait more than the 60 s allowed"}
    ]


@pytest.mark.parametrize("key", ["", "a{b", "b}", "x" * 201, "tab\there"])
def test_bad_idempotency_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidTaskError, match="printable"):
        check_idempotency_key(key, "idempotency_key")


def test_effect_key_scopes_the_key_to_the_subject_and_batch_index() -> None:
    assert effect_key("alice", "k") == "alice:k"
    assert effect_key("alice", "k", 3) == "alice:k:3"
    assert effect_key("alice", None) == ""


def test_invalid_payload_is_an_invalid_task_error() -> None:
    with pytest.raises(InvalidTaskError, match="task is invalid"):
        new_task("demo.echo", float("nan"), "default", subject="s", origin="api")


def test_an_idempotency_key_over_two_partitions_is_refused() -> None:
    keys = Keys("p", ("orders",), (("orders", 8),))
    tasks = [
        new_task("t", i, "orders", subject="s", origin="api", partition_key=f"k{i}")
        for i in range(8)
    ]
    assert sum(len(v) for v in route_tasks(keys, "orders", tasks, None, "key").values()) == 8
    with pytest.raises(InvalidTaskError, match="spans partitions"):
        route_tasks(keys, "orders", tasks, Idempotency("s", "k", "f"), "key")


def test_task_changes_only_name_what_was_given() -> None:
    given = {"payload": {"a": 1}, "max_attempts": None, "delay": 2}
    changes = task_changes(given, 60, NOW)
    assert changes == {"data": '{"a":1}', "max_attempts": "", "due_ms": str(NOW + 2000)}
    assert task_changes({}, 60, NOW) == {}


def test_script_replies_read_back() -> None:
    assert stored_answer([0]) is None
    stored = stored_answer([1, b"fp\n202\n{}"])
    assert stored is not None
    assert (stored.fingerprint, stored.status, stored.text) == ("fp", 202, "{}")
    assert change_outcome(b"ok:3") == ("ok", 3)
    assert change_outcome(b"running") == ("running", 0)
