"""The import page: upload, dry-run preview with bad rows, confirm, report, rejects, audit."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.services import import_uploads
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Customer, Purchase
from tests.factories import write_csv, write_xlsx
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
HEADER = ["会员卡号", "姓名", "手机号码", "生日", "备用电话"]
ROWS = [
    ["VIP001", "张三", "13812345678", "1990-05-01", "010-1234"],
    ["VIP002", "李四", "12345", "1985-12-24", ""],  # line 3: not a phone number
    ["VIP003", "王五", "13900001111", "", ""],
]


@pytest.fixture(autouse=True)
def upload_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "uploads"
    monkeypatch.setattr(import_uploads, "UPLOAD_ROOT", root)
    return root


def gbk_file(tmp_path: Path) -> bytes:
    return write_csv(tmp_path / "会员.csv", HEADER, ROWS, encoding="gbk").read_bytes()


def upload(
    client: TestClient, csrf: str, name: str, content: bytes, kind: str = "customers"
) -> tuple[int, BeautifulSoup]:
    response = client.post(
        "/imports/preview",
        data={"kind": kind, "encoding": "", "csrf_token": csrf},
        files={"file": (name, content, "application/octet-stream")},
    )
    return response.status_code, BeautifulSoup(response.text, "html.parser")


def confirm(client: TestClient, csrf: str, upload_id: str, skip: bool) -> BeautifulSoup:
    data = {"csrf_token": csrf, **({"skip_bad_rows": "true"} if skip else {})}
    response = client.post(f"/imports/{upload_id}/confirm", data=data)
    assert response.status_code == 200, response.text
    return BeautifulSoup(response.text, "html.parser")


def upload_id_of(page: BeautifulSoup) -> str:
    form = page.select_one("[data-testid=confirm-form]")
    assert form is not None, page.text
    found = re.fullmatch(r"/imports/([0-9a-f]+)/confirm", str(form["action"]))
    assert found
    return found.group(1)


def count(db: Database, model: type[Customer] | type[Purchase]) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def text_of(page: BeautifulSoup, testid: str) -> str:
    node = page.select_one(f"[data-testid={testid}]")
    assert node is not None, f"no {testid} in {page.text}"
    return node.get_text(" ", strip=True)


def test_preview_lists_the_mapping_and_the_bad_row_without_importing(
    client_for: Factory, db: Database, accounts: dict[str, Account], tmp_path: Path
) -> None:
    client, csrf = client_for("manager")
    client.headers["Accept-Language"] = "en"  # the assertions read English
    status, page = upload(client, csrf, "会员.csv", gbk_file(tmp_path))
    assert status == 200
    assert text_of(page, "encoding").startswith("gb18030")
    mapping = dict(
        tuple(td.get_text(strip=True) for td in tr.select("td"))
        for tr in page.select("[data-testid=mapping] tbody tr")
    )
    assert mapping["姓名"] == "name" and mapping["手机号码"] == "phone"
    assert mapping["会员卡号"] == "code" and "custom field" in mapping["备用电话"]
    assert len(page.select("[data-testid=sample] tbody tr")) == 3
    assert [td.text for td in page.select("[data-testid=bad-line]")] == ["3"]
    assert "12345" in text_of(page, "bad-rows")
    assert text_of(page, "count-inserted") == "2" and text_of(page, "count-rejected") == "1"
    assert count(db, Customer) == 0  # the preview is a dry run


def test_confirm_without_skip_imports_nothing_then_with_skip_imports_the_good_rows(
    client_for: Factory, db: Database, accounts: dict[str, Account], tmp_path: Path
) -> None:
    client, csrf = client_for("owner")
    client.headers["Accept-Language"] = "en"  # the assertions read English
    upload_id = upload_id_of(upload(client, csrf, "会员.csv", gbk_file(tmp_path))[1])
    refused = confirm(client, csrf, upload_id, skip=False)
    assert refused.select_one("[data-testid=not-imported]") is not None
    assert [td.text for td in refused.select("[data-testid=bad-line]")] == ["3"]
    assert count(db, Customer) == 0
    done = confirm(client, csrf, upload_id, skip=True)
    assert done.select_one("[data-testid=imported]") is not None
    assert text_of(done, "count-inserted") == "2" and text_of(done, "count-rejected") == "1"
    with db.read() as s:
        assert set(s.scalars(select(Customer.name))) == {"张三", "王五"}
    link = done.select_one("[data-testid=rejects-link]")
    assert link is not None
    rejects = client.get(str(link["href"]))
    assert rejects.status_code == 200 and "rejects.csv" in rejects.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert lines[0][:2] == ["line", "会员卡号"] and lines[1][:3] == ["3", "VIP002", "李四"]
    again = client.post(f"/imports/{upload_id}/confirm", data={"csrf_token": csrf})
    assert again.status_code == 409  # one upload imports once


def test_each_confirmed_import_is_audited_without_personal_data(
    client_for: Factory, db: Database, accounts: dict[str, Account], tmp_path: Path
) -> None:
    client, csrf = client_for("manager")
    client.headers["Accept-Language"] = "en"  # the assertions read English
    upload_id = upload_id_of(upload(client, csrf, "会员.csv", gbk_file(tmp_path))[1])
    confirm(client, csrf, upload_id, skip=True)
    with db.read() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "import")).all()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor_staff_id == accounts["manager"].id and entry.target_id == upload_id
    assert entry.detail["kind"] == "customers" and entry.detail["file"] == "会员.csv"
    assert entry.detail["inserted"] == 2 and entry.detail["rejected"] == 1
    assert entry.detail["committed"] is True
    assert "张三" not in str(entry.detail) and "13812345678" not in str(entry.detail)


def test_purchases_from_a_spreadsheet(
    client_for: Factory, db: Database, accounts: dict[str, Account], tmp_path: Path
) -> None:
    header = ["订单号", "日期", "手机", "商品", "数量", "金额"]
    rows = [
        ["A1", datetime(2024, 3, 1, 10, 30), 13812345678, "茶叶", 1, 88],
        ["A2", datetime(2024, 3, 2, 11, 0), 13900001111, "茶杯", 2, 30],
    ]
    content = write_xlsx(tmp_path / "销售.xlsx", header, rows).read_bytes()
    client, csrf = client_for("owner")
    client.headers["Accept-Language"] = "en"  # the assertions read English
    status, page = upload(client, csrf, "销售.xlsx", content, kind="purchases")
    assert status == 200 and page.select("[data-testid=bad-line]") == []
    assert count(db, Purchase) == 0
    done = confirm(client, csrf, upload_id_of(page), skip=False)
    assert done.select_one("[data-testid=imported]") is not None
    assert count(db, Purchase) == 2


def test_unsupported_and_oversized_files_get_a_clear_message(
    client_for: Factory, accounts: dict[str, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, csrf = client_for("owner")
    client.headers["Accept-Language"] = "en"  # the assertions read English
    status, page = upload(client, csrf, "会员.pdf", b"%PDF-1.4")
    assert status == 422
    assert "'.pdf'" in text_of(page, "import-error") and "CSV" in text_of(page, "import-error")
    monkeypatch.setattr(import_uploads, "MAX_BYTES", 1024)
    status, page = upload(client, csrf, "big.csv", b"name,phone\r\n" + b"x" * 2048)
    assert status == 413 and "larger than" in text_of(page, "import-error")


def test_clerks_may_not_import_and_uploads_are_private(
    client_for: Factory, accounts: dict[str, Account], tmp_path: Path
) -> None:
    clerk, clerk_csrf = client_for("clerk")
    clerk.headers["Accept-Language"] = "en"  # the assertions read English
    assert clerk.get("/imports").status_code == 403
    status, _ = upload(clerk, clerk_csrf, "会员.csv", gbk_file(tmp_path))
    assert status == 403
    owner, csrf = client_for("owner")
    owner.headers["Accept-Language"] = "en"  # the assertions read English
    upload_id = upload_id_of(upload(owner, csrf, "会员.csv", gbk_file(tmp_path))[1])
    manager, manager_csrf = client_for("manager")
    manager.headers["Accept-Language"] = "en"  # the assertions read English
    other = manager.post(f"/imports/{upload_id}/confirm", data={"csrf_token": manager_csrf})
    assert other.status_code == 404
    assert manager.get(f"/imports/{upload_id}/rejects.csv").status_code == 404
    assert owner.get("/imports/..%2F..%2Fetc/rejects.csv").status_code == 404
