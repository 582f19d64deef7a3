"""``guanxi daily``: one run per day, the summary as JSON, a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from guanxi.cli.main import app

runner = CliRunner()


def test_daily_runs_the_day_and_remembers_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    args = ["--db", url, "daily", "--date", "2026-11-23", "--no-send", "--json"]

    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert [d["date"] for d in data["days"]] == ["2026-11-23"]
    assert data["ok"] is True and data["sent"] is None

    later = runner.invoke(app, ["--db", url, "daily", "--date", "2026-11-25", "--no-send",
                                "--json"])  # fmt: skip
    assert [d["date"] for d in json.loads(later.output)["days"]] == ["2026-11-24", "2026-11-25"]


def test_daily_refuses_a_since_after_the_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    result = runner.invoke(app, ["--db", url, "daily", "--date", "2026-11-23",
                                 "--since", "2026-11-24"])  # fmt: skip
    assert result.exit_code != 0
    assert "after --date" in str(result.exception) + result.output
