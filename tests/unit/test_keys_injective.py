"""Key names and scopes built from run-time strings: distinct inputs, distinct names.

Property tests over arbitrary text (colons, percent signs, braces, empty parts):
every builder is injective, builders never produce each other's names, and every
key keeps its shard's hash tag as its one and only tag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from conveyor.ids import new_task_id
from conveyor.keys import (
    SYSTEM_SUBJECT,
    Keys,
    event_scope,
    fire_scope,
    request_scope,
    scope,
)
from conveyor.schedules import SCHEDULE_ID

# Text rich in the characters that could make two names equal.
TEXT = st.text(alphabet=st.sampled_from("ab:%{}3A25#-~ é"), max_size=8) | st.text(max_size=8)
NO_BRACES = TEXT.filter(lambda t: "{" not in t and "}" not in t)
SCHEDULE_IDS = st.from_regex(SCHEDULE_ID, fullmatch=True)
INSTANTS = st.integers(min_value=-(10**15), max_value=10**15)
INDEXES = st.none() | st.integers(min_value=0, max_value=10_000)

QK = Keys("p").queue("q")
KEYS = Keys("p")

# Every effect idempotency key Conveyor composes, tagged by what made it.
SCOPES: st.SearchStrategy[tuple[Any, ...]] = st.one_of(
    st.tuples(st.just("request"), TEXT, TEXT, INDEXES),
    st.tuples(st.just("event"), TEXT, TEXT),
    st.tuples(st.just("fire"), SCHEDULE_IDS, INSTANTS),
)


def _scope(made: tuple[Any, ...]) -> str:
    kind, *args = made
    if kind == "request":
        return request_scope(*args)
    if kind == "event":
        return event_scope(*args)
    return fire_scope(*args)


@given(st.lists(TEXT, min_size=1, max_size=5), st.lists(TEXT, min_size=1, max_size=5))
def test_scope_is_injective_over_tuples_of_text(a: list[str], b: list[str]) -> None:
    assert (scope(*a) == scope(*b)) == (a == b)


@given(st.lists(TEXT, min_size=1, max_size=5))
def test_a_scope_holds_no_brace_and_splits_back_into_its_parts(parts: list[str]) -> None:
    text = scope(*parts)
    assert "{" not in text
    assert "}" not in text
    assert len(text.split(":")) == len(parts)


@settings(max_examples=300)
@given(SCOPES, SCOPES)
def test_effect_scopes_of_requests_events_and_fires_never_collide(
    a: tuple[Any, ...], b: tuple[Any, ...]
) -> None:
    assert (_scope(a) == _scope(b)) == (a == b)


@given(SCOPES)
def test_no_scope_equals_a_task_id(made: tuple[Any, ...]) -> None:
    """A task without an Idempotency-Key is deduplicated by its id, which has no ':'."""
    assert ":" in _scope(made)
    assert ":" not in new_task_id()


def test_the_issue_12_scopes_differ() -> None:
    assert request_scope("a", "b:c-1") != request_scope("a:b", "c-1")
    assert QK.idempotency("a", "b:c-1") != QK.idempotency("a:b", "c-1")
    assert request_scope("s", "k", 0) != request_scope("s", "k:0")
    assert request_scope("schedule", "nightly", 5) != fire_scope("nightly", 5)
    assert event_scope("a#b", "c") != event_scope("a", "b#c")


@given(
    TEXT.filter(lambda t: not set(t) & set("%:{}")), TEXT.filter(lambda t: not set(t) & set("%:{}"))
)
def test_scopes_of_plain_parts_read_as_before(subject: str, key: str) -> None:
    """Records and marks of subjects and keys without % : { } keep their old names."""
    assert request_scope(subject, key) == f"{subject}:{key}"
    assert request_scope(subject, key, 3) == f"{subject}:{key}:3"
    assert QK.idempotency(subject, key) == f"p:{{q}}:i:idem:{subject}:{key}"


def _builders() -> dict[str, tuple[Callable[..., str], st.SearchStrategy[tuple[Any, ...]]]]:
    one = st.tuples(NO_BRACES)
    return {
        "idempotency": (QK.idempotency, st.tuples(TEXT, TEXT)),
        "effect_mark": (QK.effect_mark, one),
        "effect_key": (QK.effect_key, one),
        "task_status": (QK.task_status, one),
        "fire_dedup": (QK.fire_dedup, st.tuples(SCHEDULE_IDS, INSTANTS)),
        "accepted": (QK.accepted, st.tuples(st.integers(min_value=0, max_value=10**12))),
        "rate_limit": (KEYS.rate_limit, one),
    }


BUILDERS = _builders()
KEY_INPUTS = st.sampled_from(sorted(BUILDERS)).flatmap(
    lambda name: st.tuples(st.just(name), BUILDERS[name][1])
)
FIXED = {
    QK.tasks, QK.events, QK.timers_in, QK.dead, QK.control, QK.timer_index,
    QK.timer_entries, QK.replaces, QK.replaces_expiry, QK.last_fired, QK.cancelled,
    QK.replaced, QK.janitor_lease, QK.status_index, KEYS.schedule_changes,
    KEYS.schedule_applied, KEYS.schedule_store, KEYS.schedule_file_ids,
    KEYS.schedule_retimed, KEYS.schedule_lease, KEYS.schedule_listing,
}  # fmt: skip


def _key(made: tuple[str, tuple[Any, ...]]) -> str:
    name, args = made
    return BUILDERS[name][0](*args)


@settings(max_examples=300)
@given(KEY_INPUTS, KEY_INPUTS)
def test_every_key_builder_is_injective_and_never_makes_another_builders_key(
    a: tuple[str, tuple[Any, ...]], b: tuple[str, tuple[Any, ...]]
) -> None:
    assert (_key(a) == _key(b)) == (a == b)


@given(KEY_INPUTS)
def test_no_built_key_equals_a_fixed_key(made: tuple[str, tuple[Any, ...]]) -> None:
    assert _key(made) not in FIXED


@given(KEY_INPUTS)
def test_every_built_key_keeps_its_shards_hash_tag(made: tuple[str, tuple[Any, ...]]) -> None:
    key = _key(made)
    assert key.count("{") == 1
    assert key.count("}") == 1
    tag = "_clients" if made[0] == "rate_limit" else "q"
    assert key_slot(key.encode()) == key_slot(tag.encode())


def test_replays_use_the_subject_no_client_can_have() -> None:
    assert SYSTEM_SUBJECT == ""
    assert QK.idempotency(SYSTEM_SUBJECT, "1-0") == "p:{q}:i:idem::1-0"
