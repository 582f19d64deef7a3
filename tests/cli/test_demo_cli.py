"""``guanxi demo``: builds the shop, prints the summary, refuses a database already in use."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.errors import Conflict

runner = CliRunner()


def invoke(db_path: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, ["--db", str(db_path), "demo", *args])
    return result.exit_code, " ".join(result.output.split()), result.exception


def test_demo_builds_and_prints_the_summary(tmp_path: Path) -> None:
    code, out, exc = invoke(tmp_path / "d.db", "--customers", "200")
    assert code == 0, (out, exc)
    assert "Customers │ 200 │" in out
    assert "Owner │ 林婉清" in out
    assert "Purchases / lines" in out and "customers search <query>" in out


def test_demo_refuses_a_database_with_customers(tmp_path: Path) -> None:
    assert invoke(tmp_path / "d.db", "--customers", "20", "--seed", "3")[0] == 0
    code, _, exc = invoke(tmp_path / "d.db", "--customers", "20")
    assert code == 1 and isinstance(exc, Conflict)


def test_demo_takes_an_end_date(tmp_path: Path) -> None:
    code, out, exc = invoke(tmp_path / "d.db", "--customers", "30", "--end", "2025-06-30")
    assert code == 0, (out, exc)
    assert "– 2025-0" in out  # the last purchase falls in the first half of 2025
    code, out, _ = invoke(tmp_path / "e.db", "--end", "2025-13-01")
    assert code == 2 and "YYYY-MM-DD" in out


def test_demo_has_scores_and_a_running_points_programme(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from guanxi.loyalty import ledger
    from guanxi.loyalty.accrual import programme
    from guanxi.services.demo.points import DEMO_PROGRAMME
    from guanxi.storage.db import Database
    from guanxi.storage.models import CustomerScore, PointsEntry

    path = tmp_path / "d.db"
    code, out, exc = invoke(path, "--customers", "200")
    assert code == 0, (out, exc)
    db = Database(f"sqlite:///{path}")
    with db.read() as session:
        months = session.execute(select(func.count(func.distinct(CustomerScore.month))))
        assert months.scalar_one() == 12
        assert programme(session).rules == DEMO_PROGRAMME
        earned = session.execute(select(func.count()).select_from(PointsEntry)).scalar_one()
    assert earned > 0
    assert ledger.check_balances(db) == []
    db.dispose()
