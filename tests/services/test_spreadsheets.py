"""Spreadsheet formulas never run from our files: the rule, the CSV and XLSX writers, and every
CSV export of the product (outbox SMS/WeChat, import rejects) read back (both databases)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from guanxi.care import outbox
from guanxi.care.outbox import Draft
from guanxi.services.customer_import import import_customers
from guanxi.services.imports import ImportOptions
from guanxi.services.spreadsheets import XlsxWriter, csv_writer, neutralise
from guanxi.storage.db import Database
from guanxi.storage.models import Consent
from tests.factories import make_customer, write_csv

HOSTILE = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+1", "-1+2", "\t=1+1", "\r=1+1",
           "＝1+1", "＋1", "－1", "＠SUM(A1)"]  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_starts_get_an_apostrophe(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    [
        "张三",
        "",
        "'already text",
        "a=b",
        " =1",
        "13900000000",
        "+8613900000000",
        "+85291234567",
    ],  # fmt: skip
)
def test_other_text_and_e164_phones_are_unchanged(text: str) -> None:
    assert neutralise(text) == text


@pytest.mark.parametrize("text", ["+86 139 0000 0000", "+8613900000000+1", "+123456",
                                  "+1234567890123456", "-8613900000000"])  # fmt: skip
def test_anything_but_a_plain_e164_number_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text


def test_csv_writer_neutralises_text_and_keeps_numbers() -> None:
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(["name", "points", "amount", "day", "empty"])
    writer.writerows([[t, -5, Decimal("-12.50"), date(2026, 1, 2), None] for t in HOSTILE])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["name", "points", "amount", "day", "empty"]
    assert [r[0] for r in rows[1:]] == ["'" + t for t in HOSTILE]
    assert {tuple(r[1:]) for r in rows[1:]} == {("-5", "-12.50", "2026-01-02", "")}
    assert out.getvalue().endswith("\r\n")


def formulas_in(path: Path) -> list[str]:
    """The names of the sheet XML parts that hold a formula element (``<f>``)."""
    with zipfile.ZipFile(path) as book:
        parts = {n: book.read(n) for n in book.namelist() if n.startswith("xl/worksheets/")}
    return [n for n, xml in parts.items() if b"<f>" in xml or b"<f " in xml]


def test_xlsx_cells_are_text_with_an_apostrophe_and_numbers_stay_numbers(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    with XlsxWriter(path) as sheet:
        sheet.writerow(["name", "points", "amount", "day"])
        sheet.writerows([[t, -5, Decimal("-12.5"), date(2026, 1, 2)] for t in HOSTILE])
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert [r[0] for r in rows[1:]] == ["'" + t for t in HOSTILE]
    assert all(isinstance(r[0], str) for r in rows)
    assert {(r[1], r[2]) for r in rows[1:]} == {(-5, -12.5)}
    assert {r[3] for r in rows[1:]} == {date(2026, 1, 2)}
    assert formulas_in(path) == []


def test_a_formula_string_written_by_xlsxwriters_own_write_would_be_a_formula(
    tmp_path: Path,
) -> None:
    """The control for the check above: ``<f>`` is what a live formula looks like."""
    import xlsxwriter  # type: ignore[import-untyped]

    path = tmp_path / "unsafe.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write(0, 0, "=1+1")
    book.close()
    assert formulas_in(path) == ["xl/worksheets/sheet1.xml"]


def test_sms_and_wechat_exports_neutralise_names_in_the_content(db: Database) -> None:
    now = datetime.now(UTC)
    drafts = []
    for i, name in enumerate(HOSTILE[:4]):
        cid = make_customer(db, name=name, wechat_id=f"=oWx{i}")
        with db.write() as s:
            s.add_all(
                [
                    Consent(
                        customer_id=cid,
                        channel=ch,
                        is_granted=True,
                        source="counter",
                        changed_at=now - timedelta(days=1),
                    )
                    for ch in ("sms", "wechat")
                ]
            )
        drafts += [
            Draft(cid, ch, None, f"{name}，生日快乐", f"k{i}{ch}") for ch in ("sms", "wechat")
        ]
    hk = make_customer(db, phone="+85291234567")
    with db.write() as s:
        s.add(Consent(customer_id=hk, channel="sms", is_granted=True, source="counter",
                      changed_at=now - timedelta(days=1)))  # fmt: skip
        outbox.queue(s, [*drafts, Draft(hk, "sms", None, "-50% 今天", "hk")],
                     now=now - timedelta(minutes=1))  # fmt: skip
    policy = outbox.SendPolicy(quiet_hours=None)
    for channel, address in (("sms", "phone"), ("wechat", "openid")):
        out = io.StringIO()
        result = outbox.export_csv(db, out, channel, now=now, actor_id=None, policy=policy)
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert result.exported == len(rows) == (5 if channel == "sms" else 4)
        contents = {r["content"].split("，")[0] for r in rows if "生日快乐" in r["content"]}
        assert contents == {"'" + n for n in HOSTILE[:4]}
        if channel == "wechat":
            assert {r[address] for r in rows} == {f"'=oWx{i}" for i in range(4)}
        else:  # the gateway needs the number as it is: an E.164 number is no formula
            assert {r[address] for r in rows if r["content"].startswith("'-50%")} == {
                "+85291234567"
            }


def test_import_reject_file_neutralises_the_files_own_cells(db: Database, tmp_path: Path) -> None:
    rows = [[name, "not a phone"] for name in HOSTILE[:4]] + [["张三", "13800001111"]]
    path = write_csv(tmp_path / "c.csv", ["姓名", "手机号"], rows)
    report = import_customers(db, path, ImportOptions(skip_bad_rows=True))
    assert report.committed and (report.inserted, report.rejected) == (1, 4)
    assert report.reject_file is not None
    with report.reject_file.open(encoding="utf-8-sig", newline="") as fh:
        rejects = list(csv.reader(fh))
    assert rejects[0] == ["line", "姓名", "手机号", "reason"]
    assert [r[1] for r in rejects[1:]] == ["'" + n for n in HOSTILE[:4]]
