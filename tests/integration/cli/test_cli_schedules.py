"""``conveyor schedules``: apply a file (diff first, then create/replace/delete), list,
show, next fires, pause/resume, delete."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from integration.cli.conftest import Run

FIRST = """
schedules:
  - id: nightly
    cron: "0 30 2 * * *"
    timezone: Europe/Paris
    task: {type: report.build, payload: {kind: daily}}
  - id: heartbeat
    cron: "@every 1m"
    task: {type: demo.echo}
"""
SECOND = """
schedules:
  - id: nightly
    cron: "0 45 2 * * *"
    timezone: Europe/Paris
    task: {type: report.build, payload: {kind: daily}}
  - id: hourly
    cron: "0 0 * * * *"
    task: {type: demo.echo}
"""


async def test_apply_shows_the_diff_then_creates_replaces_and_deletes(
    conveyor: Run, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(FIRST, encoding="utf-8")
    dry = await conveyor("schedules", "apply", "-f", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "+ heartbeat (create)" in dry.stdout
    assert "+ nightly (create)" in dry.stdout
    assert json.loads((await conveyor("schedules", "list", "--json")).stdout) == {"items": []}
    created = await conveyor("schedules", "apply", "-f", str(path), "--yes", "--json")
    assert json.loads(created.stdout)["create"] == ["nightly", "heartbeat"]
    same = await conveyor("schedules", "apply", "-f", str(path))
    assert "no changes: the schedules match the file" in same.stdout

    path.write_text(SECOND, encoding="utf-8")
    refused = await conveyor("schedules", "apply", "-f", str(path), input="n\n")
    assert refused.exit_code == 1
    assert "~ nightly (replace)" in refused.stdout
    assert "cron: '0 30 2 * * *' -> '0 45 2 * * *'" in refused.stdout
    assert "+ hourly (create)" in refused.stdout
    assert "- heartbeat (delete)" in refused.stdout
    applied = await conveyor("schedules", "apply", "-f", str(path), input="y\n")
    assert applied.exit_code == 0, applied.output
    assert "applied: 1 created, 1 replaced, 1 deleted, 0 unchanged" in applied.stdout
    listed = json.loads((await conveyor("schedules", "list", "--json")).stdout)["items"]
    assert {i["schedule"]["id"]: i["schedule"]["cron"] for i in listed} == {
        "hourly": "0 0 * * * *", "nightly": "0 45 2 * * *"
    }  # fmt: skip
    table = await conveyor("schedules", "list")
    assert "schedules (2)" in table.stdout
    assert "report.build" in table.stdout


async def test_show_next_pause_resume_and_delete(conveyor: Run, tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(FIRST, encoding="utf-8")
    await conveyor("schedules", "apply", "-f", str(path), "--yes")
    shown = await conveyor("schedules", "show", "nightly")
    assert "Europe/Paris" in shown.stdout
    upcoming = json.loads(
        (await conveyor("schedules", "next", "nightly", "-n", "12", "--json")).stdout
    )
    fires = [datetime.fromisoformat(text) for text in upcoming["next_fires"]]
    assert len(fires) == 12
    assert fires == sorted(fires)
    assert {(f.minute, f.second) for f in fires} == {(30, 0)}

    paused = await conveyor("schedules", "pause", "nightly")
    assert paused.stdout.strip() == "schedule nightly: paused"
    assert (
        json.loads((await conveyor("schedules", "show", "nightly", "--json")).stdout)["schedule"][
            "enabled"
        ]
        is False
    )
    idle = await conveyor("schedules", "next", "nightly")
    assert "is paused" in idle.stdout
    await conveyor("schedules", "resume", "nightly")
    assert len(json.loads((await conveyor("schedules", "next", "nightly", "--json")).stdout)[
        "next_fires"
    ]) == 10  # fmt: skip

    deleted = await conveyor("schedules", "delete", "heartbeat")
    assert deleted.stdout.strip() == "schedule heartbeat: deleted"
    gone = await conveyor("schedules", "show", "heartbeat")
    assert gone.exit_code == 1
    assert "(HTTP 404)" in gone.stderr


async def test_a_bad_schedules_file_is_a_usage_error(conveyor: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("schedules:\n  - id: x\n    cron: '0 0 31 2 *'\n    task: {type: a}\n")
    result = await conveyor("schedules", "apply", "-f", str(path))
    assert result.exit_code == 2
    assert "schedule 'x': cron:" in result.stderr
