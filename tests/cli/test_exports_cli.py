"""``guanxi export customers``: the file, the filters, and one-line errors that leave no file."""

from __future__ import annotations

import csv
from pathlib import Path

from python_calamine import CalamineWorkbook
from sqlalchemy import select
from typer.testing import CliRunner

from guanxi.cli.main import app as main_app
from guanxi.services.customer_export import CUSTOMERS_EXPORTED
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Store
from tests.factories import make_customer

runner = CliRunner()


def _shop(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    db = Database(url)
    db.migrate()
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        stores = a.id, b.id
    make_customer(db, name='=HYPERLINK("http://x","y")', home_store_id=stores[0])
    make_customer(db, name="张三", phone="+8613812345678", home_store_id=stores[1])
    db.dispose()
    return url


def test_export_customers_to_excel_and_csv(tmp_path: Path) -> None:
    url = _shop(tmp_path)
    book = tmp_path / "会员.xlsx"
    result = runner.invoke(main_app, ["--db", url, "export", "customers", str(book)])
    assert result.exit_code == 0, result.output
    assert "2 customers" in result.output
    rows = CalamineWorkbook.from_path(str(book)).get_sheet_by_index(0).to_python()
    assert {r[1] for r in rows[1:]} == {'\'=HYPERLINK("http://x","y")', "张三"}
    sheet = tmp_path / "b.csv"
    args = ["--db", url, "export", "customers", str(sheet), "--store", "B", "--mask-phones"]
    result = runner.invoke(main_app, args)
    assert result.exit_code == 0, result.output
    with sheet.open(encoding="utf-8-sig", newline="") as fh:
        assert [(r["name"], r["phone"]) for r in csv.DictReader(fh)] == [("张三", "138****5678")]
    db = Database(url)
    with db.read() as s:
        details = (
            s.execute(select(AuditEntry.detail).where(AuditEntry.action == CUSTOMERS_EXPORTED))
            .scalars()
            .all()
        )
    db.dispose()
    assert [(d["format"], d["rows"], d["phones"]) for d in details] == [
        ("xlsx", 2, "full"), ("csv", 1, "masked")]  # fmt: skip


def test_errors_are_one_line_and_leave_no_file(tmp_path: Path) -> None:
    url = _shop(tmp_path)
    taken = tmp_path / "taken.csv"
    taken.write_text("keep me")
    cases = [
        ([str(taken)], "exists already"),
        ([str(tmp_path / "c.csv"), "--store", "Z"], "no store has the code 'Z'"),
        ([str(tmp_path / "c.csv"), "--segment", "nope"], "no saved segment is named 'nope'"),
        ([str(tmp_path / "c.pdf")], "name a .csv or .xlsx file"),
        ([str(tmp_path / "missing" / "c.csv")], "cannot write"),
    ]
    for args, message in cases:
        result = runner.invoke(main_app, ["--db", url, "export", "customers", *args])
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert taken.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("shop.db")) == [
        "taken.csv"]  # fmt: skip
