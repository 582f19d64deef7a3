"""``guanxi clv fit`` on CDNOW and ``guanxi analytics run``, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.errors import InvalidInput
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerScore
from tests.analytics.conftest import require_cdnow
from tests.services.test_scoring import _shop

runner = CliRunner()


@pytest.fixture(scope="module")
def cdnow_csv(cdnow_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CDNOW_sample.txt as a CSV with a header, as a shop would export it."""
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    rows = ["顾客,日期,金额"]
    for line in (cdnow_dir / "CDNOW_sample.txt").read_text(encoding="ascii").splitlines():
        _, sample_id, ymd, _, dollars = line.split()
        rows.append(f"{sample_id},{ymd[:4]}-{ymd[4:6]}-{ymd[6:]},{dollars}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cdnow_dir() -> Path:
    return require_cdnow()


FIT = ["clv", "fit", "--customer", "顾客", "--date", "日期", "--amount", "金额",
       "--freq", "W", "--calibration-end", "1997-09-30"]  # fmt: skip


def test_clv_fit_reproduces_fhl_2005_and_reports_the_holdout(cdnow_csv: Path) -> None:
    result = runner.invoke(app, [*FIT, "--csv", str(cdnow_csv), "--holdout-end", "1998-06-30",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["rows"], report["customers"], report["repeat_buyers"]) == (6919, 2357, 946)
    bg = report["models"]["bgnbd"]
    expected = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in expected.items():
        assert bg["params"][name] == pytest.approx(value, rel=2e-3), name
    assert bg["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    pareto = report["models"]["pareto_nbd"]
    assert pareto["params"]["s"] == pytest.approx(0.606, rel=2e-3)
    assert pareto["log_likelihood"] == pytest.approx(-9595.0, abs=0.1)
    gg = report["models"]["gamma_gamma"]["params"]
    assert (gg["p"], gg["q"], gg["v"]) == pytest.approx((6.25, 3.74, 15.44), rel=2e-3)
    holdout = report["holdout"]
    assert holdout["actual_repeat_purchases"] == 1882  # weeks 40-78 (FHL 2005)
    assert holdout["actual_cumulative"] == 4339
    # FHL 2005: BG/NBD ends about 4 % under the cumulative repeat purchases at week 78.
    assert -0.05 < holdout["error_cumulative"] < -0.03
    assert 1500 < holdout["predicted_conditional"] < 1882


def test_clv_fit_prints_a_readable_table(cdnow_csv: Path) -> None:
    result = runner.invoke(app, [*FIT, "--csv", str(cdnow_csv), "--holdout-end", "1998-06-30"])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    assert "2,357 customers (946 bought again)" in out
    assert "1,882 repeat purchases made" in out and "-9582.43" in out


def test_clv_fit_names_a_missing_column_and_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("id,day,amount\n1,2025-01-01,10\n2,not a date,5\n", encoding="utf-8")
    args = [*FIT[:2], "--csv", str(path), "--customer", "id", "--amount", "amount",
            "--calibration-end", "2025-02-01", "--date"]  # fmt: skip
    result = runner.invoke(app, [*args, "date"])
    assert isinstance(result.exception, InvalidInput)
    assert "no column 'date'" in str(result.exception) and "id, day, amount" in str(
        result.exception
    )
    result = runner.invoke(app, [*args, "day"])
    assert isinstance(result.exception, InvalidInput)
    assert "line 3" in str(result.exception)


def test_analytics_run_scores_and_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    db = Database(url)
    db.migrate()
    _shop(db, 60)
    result = runner.invoke(app, ["--db", url, "analytics", "run", "--date", "2025-12-31",
                                 "--months", "2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["as_of"] == "2025-12-31" and report["customers"] == 61
    assert set(report["seconds"]) == {"summary", "features", "models", "scores", "write"}
    with db.read() as session:
        months = session.execute(select(func.count(func.distinct(CustomerScore.month))))
        assert months.scalar_one() == 2
    db.dispose()
    result = runner.invoke(app, ["--db", url, "analytics", "run", "--date", "2025-13-01"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
