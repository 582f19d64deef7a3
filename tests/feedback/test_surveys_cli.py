"""``guanxi surveys list`` and ``guanxi surveys report`` on a SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer.testing import CliRunner

from guanxi.cli import main as cli_main
from guanxi.cli import surveys as surveys_cli
from guanxi.feedback import surveys
from guanxi.storage.db import Database
from guanxi.storage.models import SurveyResponse
from tests.factories import make_customer

runner = CliRunner()


def root() -> typer.Typer:
    """The root callback with the surveys group (as the lead registers it in cli.main)."""
    app = typer.Typer()
    app.callback()(cli_main.main)
    app.add_typer(surveys_cli.app, name="surveys")
    return app


def test_list_and_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    db = Database(url)
    db.migrate()
    sid = surveys.save_survey(db, name="推荐意愿", kind="nps", actor_id=None)
    with db.write() as session:
        for score in (10, 9, 5):
            session.add(SurveyResponse(survey_id=sid, customer_id=make_customer(db), nps=score,
                                       submitted_at=datetime(2026, 10, 3, tzinfo=UTC)))  # fmt: skip
    db.dispose()
    app = root()
    listed = runner.invoke(app, ["--db", url, "surveys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["name"], row["kind"], row["responses"]) == ("推荐意愿", "nps", 3)
    table = runner.invoke(app, ["--db", url, "surveys", "list"])
    assert table.exit_code == 0 and "推荐意愿" in table.output
    report = runner.invoke(app, ["--db", url, "surveys", "report", "--date", "2026-10-31",
                                 "--json"])  # fmt: skip
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    assert (data["promoters"], data["detractors"], data["responses"]) == (2, 1, 3)
    assert round(data["nps"], 1) == 33.3 and data["months"][-1]["month"] == "2026-10-01"
    text = runner.invoke(app, ["--db", url, "surveys", "report", "--date", "2026-10-31"])
    assert text.exit_code == 0 and "NPS per month" in text.output and "2026-10" in text.output
    for command in (["surveys", "--help"], ["surveys", "list", "--help"],
                    ["surveys", "report", "--help"]):  # fmt: skip
        helped = runner.invoke(app, command)
        assert helped.exit_code == 0
        assert "Example" in helped.output or command == ["surveys", "--help"]
