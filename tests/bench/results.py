"""Benchmark figures: append (or replace by name) rows in ``tests/bench/results/latest.json``.

Each row is ``{"name", "value", "unit", "baseline", "baseline_value", "ratio"}``;
``baseline`` names what the value is compared with (empty when nothing), and
``ratio`` is ``value / baseline_value`` when there is a baseline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def record(
    name: str,
    value: float,
    unit: str,
    baseline: str = "",
    baseline_value: float | None = None,
    path: Path = RESULTS,
) -> dict[str, Any]:
    """Write one figure (replacing an older one of the same name) and return its row."""
    ratio = value / baseline_value if baseline_value else None
    row: dict[str, Any] = {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": None if baseline_value is None else round(baseline_value, 4),
        "ratio": None if ratio is None else round(ratio, 4),
    }
    rows = [r for r in _load(path) if r.get("name") != name]
    rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table, for printing."""
    lines = [f"{'figure':<48} {'value':>14} {'unit':<8} {'vs':<24} {'ratio':>8}"]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(
            f"{r['name']:<48} {r['value']:>14,.3f} {r['unit']:<8} {r['baseline']:<24} {ratio:>8}"
        )
    return "\n".join(lines)


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
