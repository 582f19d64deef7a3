"""The customer list export (CSV, XLSX): columns, scope by role, segments, audit, neutralised
text, batches, and no file left behind on failure (both databases)."""

from __future__ import annotations

import csv
import os
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import insert, select

from guanxi.domain.staff import Role
from guanxi.errors import InvalidInput, NotAllowed, NotFound
from guanxi.services import customer_export
from guanxi.services.customer_export import (
    HEADER,
    ExportFilter,
    export_customers,
    find_segment_id,
    find_store_id,
)
from guanxi.services.segments import Rule, save_segment
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AuditEntry,
    Consent,
    Customer,
    CustomerTag,
    CustomerTier,
    PointsBalance,
    Purchase,
    Staff,
    Store,
)
from tests.factories import make_customer
from tests.services.test_segments import _score
from tests.services.test_spreadsheets import formulas_in

HOSTILE = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+1", "-1+2"]


def _staff(db: Database, role: Role, store: int | None) -> StaffMember:
    with db.write() as s:
        row = Staff(name=f"{role.value} 王", role=role.value, store_id=store)
        s.add(row)
        s.flush()
        return StaffMember(row.id, row.name, role, store, None, None)


@pytest.fixture
def shop(db: Database) -> dict[str, Any]:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        stores = (a.id, b.id)
    ids = {name: make_customer(db, name=name, home_store_id=stores[0]) for name in HOSTILE}
    full = make_customer(db, name="张三", phone="+8613812345678", home_store_id=stores[0],
                         code="M-001", tags=["VIP", "老客户"])  # fmt: skip
    other = make_customer(db, name="李四", phone="+85291234567", home_store_id=stores[1])
    make_customer(db, name="已删除客户", home_store_id=stores[0], erased_at=datetime.now(UTC))
    with db.write() as s:
        s.add(CustomerTier(customer_id=full, tier_key="gold", since=date(2026, 1, 1),
                           evaluated_on=date(2026, 1, 1)))  # fmt: skip
        s.add(PointsBalance(customer_id=full, points=-30))  # clawed back below zero
        s.add(Purchase(store_id=stores[0], external_order_id="R1", customer_id=full,
                       purchased_at=datetime(2026, 3, 1, 17, 0, tzinfo=UTC)))  # fmt: skip
        s.add_all([Consent(customer_id=full, channel=ch, is_granted=ok, source="counter",
                           changed_at=datetime(2026, 1, 1, tzinfo=UTC))
                   for ch, ok in (("sms", True), ("email", False))])  # fmt: skip
    return {"stores": stores, "ids": ids, "full": full, "other": other,
            "owner": _staff(db, Role.OWNER, None), "manager": _staff(db, Role.MANAGER, stores[0]),
            "clerk": _staff(db, Role.CLERK, stores[0])}  # fmt: skip


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A folder of its own (the SQLite test database lives in ``tmp_path``)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def audits(db: Database) -> list[tuple[int | None, dict[str, Any]]]:
    with db.read() as s:
        rows = s.execute(
            select(AuditEntry.actor_staff_id, AuditEntry.detail).where(
                AuditEntry.action == customer_export.CUSTOMERS_EXPORTED
            )
        )
        return [(a, d) for a, d in rows]  # fmt: skip


def test_owner_csv_has_every_live_customer_with_its_columns(
    db: Database, shop: dict[str, Any], out: Path
) -> None:
    path = out / "customers.csv"
    result = export_customers(db, path, actor=shop["owner"])
    rows = read_csv(path)
    assert result.rows == len(rows) == 6 and result.format == "csv"
    assert list(rows[0]) == list(HEADER)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"'" + n for n in HOSTILE} | {"张三", "李四"}  # not the erased one
    assert by_name["张三"] == {
        "code": "M-001", "name": "张三", "phone": "13812345678", "home_store": "旗舰店",
        "tier": "gold", "points": "-30", "last_purchase": "2026-03-02", "consent_sms": "yes",
        "consent_email": "no", "consent_wechat": "", "tags": "VIP, 老客户",
    }  # fmt: skip
    assert by_name["李四"]["phone"] == "+85291234567"  # E.164 as stored: no formula
    assert by_name["'+1"]["points"] == "0"
    assert audits(db) == [(shop["owner"].id, {"format": "csv", "rows": 6, "segment_id": None,
                                              "store_id": None, "phones": "full"})]  # fmt: skip
    assert list(out.iterdir()) == [path]  # the temporary file is gone


def test_xlsx_cells_are_text_or_numbers_and_no_formula(
    db: Database, shop: dict[str, Any], out: Path
) -> None:
    path = out / "customers.xlsx"
    assert export_customers(db, path, actor=shop["manager"]).rows == 5  # store A only
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert rows[0] == list(HEADER)
    names = {r[1]: r for r in rows[1:]}
    assert set(names) == {"'" + n for n in HOSTILE} | {"张三"}
    zhang = names["张三"]
    assert (zhang[2], zhang[5], zhang[6]) == ("13812345678", -30, date(2026, 3, 2))
    assert formulas_in(path) == []
    assert audits(db)[0][1]["format"] == "xlsx" and audits(db)[0][1]["store_id"] == shop[
        "stores"][0]  # fmt: skip


def test_scope_by_role(db: Database, shop: dict[str, Any], out: Path) -> None:
    path = out / "c.csv"
    owner_b = export_customers(db, path, actor=shop["owner"],
                               filters=ExportFilter(store_id=shop["stores"][1]))  # fmt: skip
    assert owner_b.rows == 1 and read_csv(path)[0]["name"] == "李四"
    with pytest.raises(NotAllowed):
        export_customers(db, out / "x.csv", actor=shop["manager"],
                         filters=ExportFilter(store_id=shop["stores"][1]))  # fmt: skip
    with pytest.raises(NotAllowed):
        export_customers(db, out / "y.csv", actor=shop["clerk"])
    assert export_customers(db, out / "z.csv", actor=None).rows == 6  # the terminal
    assert [d["rows"] for _, d in audits(db)] == [1, 6]  # refused exports write nothing
    assert sorted(p.name for p in out.iterdir()) == ["c.csv", "z.csv"]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # no SQL of its own: one database
def test_masked_phones(db: Database, shop: dict[str, Any], out: Path) -> None:
    path = out / "c.csv"
    export_customers(db, path, actor=shop["owner"], mask_phones=True)
    phones = {r["name"]: r["phone"] for r in read_csv(path)}
    assert (phones["张三"], phones["李四"]) == ("138****5678", "852****4567")
    assert audits(db)[0][1]["phones"] == "masked"


def test_segment_filter(db: Database, shop: dict[str, Any], out: Path) -> None:
    path = out / "c.csv"
    segment = save_segment(db, shop["owner"], name="VIPs", description=None,
                           rules=[Rule("tag", "is", "VIP")])  # fmt: skip
    assert (
        export_customers(
            db, path, actor=shop["owner"], filters=ExportFilter(segment_id=segment)
        ).rows
        == 0
    )  # no scores yet
    for cid in (shop["full"], shop["other"], shop["ids"]["+1"]):
        _score(db, cid)
    assert find_segment_id(db, "VIPs") == segment
    result = export_customers(db, path, actor=shop["manager"],
                              filters=ExportFilter(segment_id=segment))  # fmt: skip
    assert result.rows == 1 and read_csv(path)[0]["name"] == "张三"
    assert audits(db)[-1][1]["segment_id"] == segment


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # no SQL of its own: one database
def test_lookups_and_bad_requests_leave_no_file(
    db: Database, shop: dict[str, Any], out: Path
) -> None:
    assert find_store_id(db, "B") == shop["stores"][1]
    with pytest.raises(NotFound):
        find_store_id(db, "Z")
    with pytest.raises(NotFound):
        find_segment_id(db, "nope")
    with pytest.raises(NotFound):
        export_customers(db, out / "c.csv", actor=shop["owner"],
                         filters=ExportFilter(segment_id=999_999))  # fmt: skip
    with pytest.raises(InvalidInput):
        export_customers(db, out / "c.json", actor=shop["owner"])
    assert list(out.iterdir()) == [] and audits(db) == []


def test_rows_are_read_in_batches(
    db: Database, shop: dict[str, Any], out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tags and consents are fetched per batch: small batches give the same file."""
    whole, batched = out / "whole.csv", out / "batched.csv"
    export_customers(db, whole, actor=shop["owner"])
    monkeypatch.setattr(customer_export, "BATCH", 2)
    export_customers(db, batched, actor=shop["owner"])
    assert whole.read_bytes() == batched.read_bytes()
    assert len(read_csv(batched)) == 6


STRESS = os.environ.get("GUANXI_STRESS") == "1"


def _many(db: Database, store: int, count: int, first: int) -> None:
    """``count`` customers with a tag and a consent each, inserted in bulk."""
    with db.write() as s:
        for start in range(first, first + count, 5000):
            ids = range(start, min(first + count, start + 5000))
            s.execute(insert(Customer), [{"id": i, "name": f"客户{i}", "phone": f"+86137{i:08d}",
                                          "home_store_id": store, "custom_fields": {}}
                                         for i in ids])  # fmt: skip
            s.execute(insert(CustomerTag), [{"customer_id": i, "name": "批量"} for i in ids])
            s.execute(insert(Consent), [{"customer_id": i, "channel": "sms", "is_granted": True,
                                         "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
                                         "source": "import"} for i in ids])  # fmt: skip


def _peak(db: Database, path: Path, owner: StaffMember, store: int) -> tuple[int, int]:
    """(rows, peak bytes traced) of one export of ``store``."""
    tracemalloc.start()
    try:
        rows = export_customers(db, path, actor=owner, filters=ExportFilter(store_id=store)).rows
        return rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_customers(
    db: Database, shop: dict[str, Any], out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streaming: exporting 6 times as many customers takes about the same memory (all in
    memory, it would take 6 times as much: 2.9 MB against 0.5 MB when BATCH holds them all).
    400 against 2,400 customers in small batches; 20,000 against 120,000 with GUANXI_STRESS=1."""
    small = 20_000 if STRESS else 400
    if not STRESS:
        monkeypatch.setattr(customer_export, "BATCH", 50)  # many batches at a CI size
    a, b = shop["stores"]
    _many(db, a, small, 1_000_000)
    _many(db, b, small * 6, 2_000_000)
    owner = shop["owner"]
    _peak(db, out / "warm.csv", owner, a)  # statement caches filled outside the measure
    few, few_peak = _peak(db, out / "few.csv", owner, a)
    many, many_peak = _peak(db, out / "many.csv", owner, b)
    assert (few, many) == (small + 5, small * 6 + 1)
    assert many_peak < 2 * few_peak, (few_peak, many_peak)
