"""The customer export page: form by role, CSRF, the CSV / Excel download, scope and audit
(both databases, real app)."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from guanxi.domain.staff import Role
from guanxi.services.customer_export import CUSTOMERS_EXPORTED, HEADER
from guanxi.services.segments import Rule, save_segment
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry
from tests.factories import make_customer
from tests.services.test_spreadsheets import formulas_in
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
HOSTILE = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+1", "-1+2"]


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    """SQLite only: the web layer adds no SQL (tests/services/test_customer_export.py runs the
    export on both databases)."""
    return sqlite_db


@pytest.fixture
def customers(db: Database, accounts: dict[str, Account]) -> dict[str, int]:
    a, b = accounts["manager"].store_id, accounts["clerk_b"].store_id
    made = {n: make_customer(db, name=n, home_store_id=a) for n in HOSTILE}
    made["张三"] = make_customer(db, name="张三", phone="+8613812345678", home_store_id=a)
    made["李四"] = make_customer(db, name="李四", home_store_id=b)
    return made


def page(client: TestClient) -> BeautifulSoup:
    response = client.get("/exports/customers")
    assert response.status_code == 200
    return BeautifulSoup(response.text, "html.parser")


def test_the_form_by_role(db: Database, client_for: Factory, accounts: dict[str, Account]) -> None:
    owner_member = StaffMember(accounts["owner"].id, "owner", Role.OWNER, None, None, None)
    save_segment(db, owner_member, name="VIPs", description=None,
                 rules=[Rule("tag", "is", "VIP")])  # fmt: skip
    owner, _ = client_for("owner")
    form = page(owner)
    assert form.find(attrs={"data-testid": "export-form"}) is not None
    stores = form.find(attrs={"data-testid": "export-store"})
    assert stores is not None and len(stores.find_all("option")) == 3  # all, A, B
    segments = form.find(attrs={"data-testid": "export-segment"})
    assert segments is not None and "VIPs" in segments.text
    manager, _ = client_for("manager")
    form = page(manager)
    assert form.find(attrs={"data-testid": "export-store"}) is None
    assert form.find(attrs={"data-testid": "export-own-store"}) is not None
    clerk, csrf = client_for("clerk")
    assert clerk.get("/exports/customers").status_code == 403
    assert clerk.post("/exports/customers", data={"csrf_token": csrf}).status_code == 403


def test_owner_downloads_a_csv_and_the_export_is_audited(
    db: Database, client_for: Factory, accounts: dict[str, Account], customers: dict[str, int]
) -> None:
    owner, csrf = client_for("owner")
    assert owner.post("/exports/customers", data={"format": "csv"}).status_code == 403  # no CSRF
    response = owner.post("/exports/customers", data={"format": "csv", "csrf_token": csrf})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="customers-' in response.headers["content-disposition"]
    assert response.headers["x-rows"] == "6"
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {r["name"] for r in rows} == {"'" + n for n in HOSTILE} | {"张三", "李四"}
    assert {r["phone"] for r in rows if r["name"] == "张三"} == {"13812345678"}
    with db.read() as s:
        entries = s.execute(select(AuditEntry.actor_staff_id, AuditEntry.detail)
                            .where(AuditEntry.action == CUSTOMERS_EXPORTED)).all()  # fmt: skip
    assert [(a, d["rows"], d["format"]) for a, d in entries] == [(accounts["owner"].id, 6, "csv")]


def test_manager_gets_their_store_in_excel_masked_on_request(
    client_for: Factory, accounts: dict[str, Account], customers: dict[str, int], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the route writes its file
    manager, csrf = client_for("manager")
    other = str(accounts["clerk_b"].store_id)
    refused = manager.post("/exports/customers",
                           data={"format": "xlsx", "store": other, "csrf_token": csrf})  # fmt: skip
    assert refused.status_code == 403
    response = manager.post(
        "/exports/customers",
        data={"format": "xlsx", "mask_phones": "yes", "csrf_token": csrf},
    )
    assert response.status_code == 200 and response.headers["x-rows"] == "5"
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    path = tmp_path / "download.xlsx"
    path.write_bytes(response.content)
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert rows[0] == list(HEADER)
    assert {r[1] for r in rows[1:]} == {"'" + n for n in HOSTILE} | {"张三"}
    assert {r[2] for r in rows[1:] if r[1] == "张三"} == {"138****5678"}
    assert formulas_in(path) == []
    bad = manager.post("/exports/customers", data={"format": "pdf", "csrf_token": csrf})
    assert bad.status_code == 422
    assert list(scratch.iterdir()) == []  # sent, refused or not: the temporary folders are gone
