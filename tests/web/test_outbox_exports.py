"""The outbox page's WeChat export and the upload of SMS replies (回复TD) (both databases)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.care import outbox
from guanxi.care.outbox import Draft
from guanxi.config import Settings
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Consent, Message
from guanxi.web.app import create_app
from tests.factories import make_customer
from tests.web.conftest import HASHER, Account

Factory = Callable[[str], tuple[TestClient, str]]


@pytest.fixture
def app(db: Database) -> FastAPI:
    """No quiet hours: the exports run on the wall clock."""
    return create_app(Settings(quiet_hours=""), db=db, hasher=HASHER)


def consenting(db: Database, store: int | None, phone: str, **fields: object) -> int:
    cid = make_customer(db, home_store_id=store, phone=phone, **fields)
    with db.write() as s:
        for channel in ("sms", "wechat"):
            s.add(Consent(customer_id=cid, channel=channel, is_granted=True, source="counter",
                          changed_at=datetime(2026, 1, 1, tzinfo=UTC)))  # fmt: skip
    return cid


def queue(db: Database, *drafts: Draft) -> None:
    with db.write() as s:
        outbox.queue(s, list(drafts), now=datetime.now(UTC) - timedelta(minutes=1))


def test_wechat_export_downloads_a_csv(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    store = accounts["manager"].store_id
    a = consenting(db, store, "+8613600000001", wechat_id="oWx1")
    elsewhere = consenting(db, accounts["clerk_b"].store_id, "+8613600000002", wechat_id="oWx2")
    queue(
        db,
        Draft(a, "wechat", None, "中秋快乐", "a"),
        Draft(elsewhere, "wechat", None, "中秋快乐", "o"),
    )
    manager, csrf = client_for("manager")
    page = BeautifulSoup(manager.get("/care/outbox").text, "html.parser")
    form = page.find("form", attrs={"data-testid": "wechat-export"})
    assert form is not None and form["action"] == "/care/outbox/wechat.csv"
    export = manager.post("/care/outbox/wechat.csv", data={"csrf_token": csrf})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert 'filename="wechat-' in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows == [["openid", "content"], ["oWx1", "中秋快乐"]]  # their store only
    with db.read() as s:
        status = dict(s.execute(select(Message.dedupe_key, Message.status)).all())
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.MESSAGES_EXPORTED)).scalar_one()  # fmt: skip
    assert status == {"a": "exported", "o": "queued"}
    assert entry.actor_staff_id == accounts["manager"].id and entry.detail["channel"] == "wechat"
    # Nothing left: back to the page with a notice instead of an empty file.
    empty = manager.post("/care/outbox/wechat.csv", data={"csrf_token": csrf})
    assert empty.status_code == 200 and str(empty.url).endswith("exported=wechat&skipped=0&held=0")
    assert BeautifulSoup(empty.text, "html.parser").find(attrs={"data-testid": "export-notice"})
    assert manager.post("/care/outbox/wechat.csv", data={}).status_code == 403


def test_uploading_sms_replies_records_opt_outs(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    a = consenting(db, accounts["manager"].store_id, "+8613600000011")
    b = consenting(db, accounts["clerk_b"].store_id, "+8613600000012")  # another store
    replies = (
        "手机号码,回复内容\n13600000011,TD\n13600000012,退订\n13600000013,TD\n13600000011,好\n"
    )
    manager, csrf = client_for("manager")
    files = {"file": ("上行回复.csv", replies.encode("utf-8"), "text/csv")}
    done = manager.post("/care/outbox/opt-outs", data={"csrf_token": csrf}, files=files,
                        follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    page = BeautifulSoup(manager.get(done.headers["location"]).text, "html.parser")
    counts = {li["data-testid"]: int(str(li["data-count"]))
              for li in page.select('[data-testid="opt-out-report"] li')}  # fmt: skip
    assert counts == {"opted-out": 2, "already-opted-out": 0, "consented-since": 0,
                      "unknown-phone": 1, "not-opt-out": 1}  # fmt: skip
    with db.read() as s:
        for cid in (a, b):
            consent = s.get(Consent, (cid, "sms"))
            assert consent is not None and not consent.is_granted
            assert consent.source == "sms_reply"
        summary = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.OPT_OUT_REPLIES_RECORDED)).scalar_one()  # fmt: skip
    assert summary.actor_staff_id == accounts["manager"].id
    again = manager.post("/care/outbox/opt-outs", data={"csrf_token": csrf}, files=files)
    assert 'data-testid="already-opted-out" data-count="2"' in again.text
    # A file without the columns is refused with the way out; no CSRF token, no upload;
    # clerks may not.
    bad = {"file": ("x.csv", b"name\nA\n", "text/csv")}
    refused = manager.post("/care/outbox/opt-outs", data={"csrf_token": csrf}, files=bad)
    assert refused.status_code == 422 and "phone and reply columns" in refused.text
    odd = {"file": ("replies.pdf", b"%PDF-1.4", "application/pdf")}  # not a table
    wrong = manager.post("/care/outbox/opt-outs", data={"csrf_token": csrf}, files=odd)
    assert wrong.status_code == 422 and "CSV or Excel" in wrong.text
    assert manager.post("/care/outbox/opt-outs", files=files).status_code == 403
    clerk, clerk_csrf = client_for("clerk")
    forbidden = clerk.post("/care/outbox/opt-outs", data={"csrf_token": clerk_csrf}, files=files)
    assert forbidden.status_code == 403
