"""README's configuration table lists exactly the settings the code reads."""

from __future__ import annotations

from settings_table import BEGIN, END, README, render


def test_readme_settings_table_matches_the_settings_classes() -> None:
    readme = README.read_text()
    assert BEGIN in readme
    assert END in readme
    assert readme == render(readme), "README table is stale: run `python tests/settings_table.py`"
