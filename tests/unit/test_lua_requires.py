"""Library scripts: a ``-- requires:`` line puts the named scripts' text first."""

from __future__ import annotations

from importlib import resources

import pytest

from conveyor.lua import script_source, script_text

SCRIPTS = sorted(
    item.name.removesuffix(".lua")
    for item in resources.files("conveyor.lua").iterdir()
    if item.name.endswith(".lua")
)


@pytest.mark.parametrize(
    ("name", "libraries"),
    [
        ("worker_commit", ["task_changes", "workflow_advance"]),
        ("scheduler_control", ["task_changes", "timer_changes"]),
        ("scheduler_intake", ["task_changes", "timer_changes"]),
        ("ingest_change", ["ingest_record"]),
        ("ingest_apply_events", ["ingest_record"]),
    ],
)
def test_a_script_gets_its_libraries_before_its_own_text(name: str, libraries: list[str]) -> None:
    """A library's own ``-- requires:`` line puts its libraries before it in turn."""
    text = script_text(name)
    assert text == "".join(script_source(library) for library in libraries) + script_source(name)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_required_library_exists_and_defines_each_function_once(name: str) -> None:
    text = script_text(name)  # raises for a library that does not exist
    functions = [line.split("(")[0] for line in text.splitlines() if "local function " in line]
    assert len(functions) == len(set(functions)), f"{name}: a function defined twice"


def test_a_script_without_the_line_is_unchanged() -> None:
    assert script_text("server_time") == script_source("server_time")
