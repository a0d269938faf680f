"""Small formatting helpers for tables: ages, absent values, key/value panels."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

NONE = "-"


def cell(value: Any) -> str:
    """A table cell: '-' for nothing, JSON for structures, text otherwise."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def moment(text: str | None) -> str:
    """An RFC 3339 instant, short: ``2026-12-05 13:00:44`` (UTC, as the API gives it)."""
    if not text:
        return NONE
    return str(text).replace("T", " ")[:19]


def age(seconds: float | None) -> str:
    """``seconds`` as a short age: 850 ms, 42 s, 3 m 05 s, 2 h 10 m."""
    if seconds is None:
        return NONE
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def clip(text: Any, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    line = " ".join(cell(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    """A rich table with ``columns`` and ``rows`` (cells through ``cell``)."""
    grid = Table(title=title, title_justify="left")
    for index, name in enumerate(columns):  # ids are never folded
        grid.add_column(name, overflow="fold", no_wrap=index == 0 or name.endswith("id"))
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    return grid


def panel(out: Console, title: str, fields: Mapping[str, Any]) -> None:
    """A two-column table of ``fields``."""
    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column("field", style="bold")
    grid.add_column("value", overflow="fold")
    for name, value in fields.items():
        grid.add_row(name, cell(value))
    out.print(grid)
