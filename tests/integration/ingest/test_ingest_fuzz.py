"""Hypothesis-generated requests against every operation of the OpenAPI document: no 5xx.

Bodies are arbitrary JSON (objects shaped like the operation's schema and garbage),
path and query parameters arbitrary text; every answer must be a non-5xx envelope.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor_ingest.operations import Operation
from conveyor_ingest.routes import batch, deadletters, events, queues, schedules, tasks
from integration.ingest.ingest_support import Api, auth, make_token

OPERATIONS = [
    operation
    for module in (batch, deadletters, events, queues, schedules, tasks)
    for operation in module.routes.operations
]

EXAMPLES = 60
ADMIN = make_token(sub="fuzz", scope="admin")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
task_like = st.fixed_dictionaries(
    {"type": st.text(max_size=12) | st.sampled_from(["demo.echo", "a.b"])},
    optional={
        "payload": json_values,
        "queue": st.sampled_from(["default", "other", "nope", ""]),
        "delay": st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=5)),
        "run_at": st.text(max_size=30) | st.just("2030-01-01T00:00:00Z"),
        "max_attempts": st.integers(),
        "timeout": st.floats(allow_nan=False) | st.integers(),
    },
)
bodies = st.one_of(
    json_values,
    task_like,
    st.builds(lambda tasks: {"tasks": tasks}, st.lists(task_like, max_size=3)),
    st.fixed_dictionaries(
        {"id": st.text(max_size=10), "cron": st.text(max_size=20), "task": task_like},
        optional={"timezone": st.text(max_size=20), "misfire": st.text(max_size=8)},
    ),
)
words = st.text(max_size=16) | st.sampled_from(["{x}", "a}", "%", "..", "0-0", "1-1"])


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit": 1e9, "rate_burst": 1_000_000_000}


@settings(
    max_examples=EXAMPLES * 4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    operation=st.sampled_from(OPERATIONS),
    body=bodies,
    path_value=words,
    query_value=words,
)
async def test_generated_requests_never_get_a_5xx(
    api: Api, operation: Operation, body: Any, path_value: str, query_value: str
) -> None:
    path = operation.template
    for name in operation.path_patterns:
        path = path.replace("{" + name + "}", quote(path_value, safe="") or "x")
    query = operation.query.model_fields if operation.query else {}
    params = dict.fromkeys(query, query_value)
    response = await api.client.request(
        operation.method.upper(),
        path,
        params=params,
        data=json.dumps(body),
        headers={**auth(ADMIN), "Content-Type": (operation.body_types or ("",))[0]},
    )
    text = await response.text()
    assert response.status < 500, (operation.method, path, params, body, text)
    assert json.loads(text)["code"] == response.status
