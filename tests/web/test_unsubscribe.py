"""The public unsubscribe page (GET shows, POST unsubscribes, bad tokens answered cleanly) and
the outbox page for managers: listing, retrying, the audited SMS export (both databases)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from guanxi.care import links, outbox
from guanxi.care.outbox import Draft
from guanxi.config import Settings
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import AppSetting, AuditEntry, Consent, ConsentEvent, Message
from guanxi.web.app import create_app
from tests.factories import make_customer
from tests.web.conftest import HASHER, Account

Factory = Callable[[str], tuple[TestClient, str]]
NOW = datetime.now(UTC) - timedelta(minutes=5)


def message_for(db: Database, customer: int, channel: str = "email", key: str = "m1") -> int:
    with db.write() as s:
        outbox.queue(s, [Draft(customer, channel, "新茶", "张女士，新茶到店。", key)], now=NOW)
        return int(s.execute(select(Message.id).where(Message.dedupe_key == key)).scalar_one())


def token_for(db: Database, message_id: int) -> str:
    with db.write() as s:
        return links.unsubscribe_token(s, message_id)


def consented(db: Database, customer: int, channel: str = "email") -> int:
    with db.write() as s:
        s.add(Consent(customer_id=customer, channel=channel, is_granted=True,
                      changed_at=NOW - timedelta(days=10), source="counter"))  # fmt: skip
    return customer


def consent_of(db: Database, customer: int, channel: str = "email") -> bool | None:
    with db.read() as s:
        row = s.get(Consent, (customer, channel))
        return None if row is None else row.is_granted


def test_get_shows_a_button_and_changes_nothing(app: FastAPI, db: Database) -> None:
    with db.write() as s:
        s.add(AppSetting(key="shop_name", value="茶舍"))
    cid = consented(db, make_customer(db, name="张晓明", email="zhang@example.cn",
                                      phone="+8613900001234"))  # fmt: skip
    token = token_for(db, message_for(db, cid))
    with TestClient(app) as client:
        for _ in range(3):  # a mail scanner may open it several times
            page = client.get(f"/u/{token}")
            assert page.status_code == 200
        assert consent_of(db, cid) is True
    assert 'data-state="confirm"' in page.text and "unsubscribe-button" in page.text
    assert "茶舍" in page.text
    for private in ("张晓明", "zhang@example.cn", "13900001234", "1234"):
        assert private not in page.text  # nothing about the customer on a public page
    assert page.headers["x-robots-tag"] == "noindex"
    assert page.headers["cache-control"] == "no-store"


def test_post_unsubscribes_that_channel_without_sign_in(app: FastAPI, db: Database) -> None:
    cid = consented(db, consented(db, make_customer(db, email="a@example.cn")), "sms")
    token = token_for(db, message_for(db, cid))
    with TestClient(app) as client:
        done = client.post(f"/u/{token}")  # no session, no CSRF token: the signed link is enough
        assert done.status_code == 200 and 'data-state="done"' in done.text
        # One-click unsubscribe (RFC 8058) as a mail provider sends it; a second time is harmless.
        again = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200
        shown = client.get(f"/u/{token}")
        assert 'data-state="done"' in shown.text
    assert consent_of(db, cid) is False
    assert consent_of(db, cid, "sms") is True  # only the link's channel
    with db.read() as s:
        events = s.execute(select(ConsentEvent).where(ConsentEvent.customer_id == cid,
                                                      ConsentEvent.channel == "email")
                           .order_by(ConsentEvent.id)).scalars().all()  # fmt: skip
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.CONSENT_CHANGED)).scalar_one()  # fmt: skip
    assert [(e.is_granted, e.source) for e in events] == [(False, "unsubscribe_link")]
    assert entry.actor_staff_id is None and entry.target_id == str(cid)
    assert entry.detail["source"] == "unsubscribe_link" and "a@example.cn" not in str(entry.detail)


def test_tampered_or_bad_tokens_are_refused_cleanly(app: FastAPI, db: Database) -> None:
    cid = consented(db, make_customer(db, email="b@example.cn"))
    mid = message_for(db, cid)
    token = token_for(db, mid)
    other = message_for(db, cid, key="m2")
    forged = f"{other}.{token.split('.')[1]}"  # another message's id with this signature
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    with TestClient(app) as client:
        for bad in (forged, flipped, "123", "1.short", "x" * 300, "%2e%2e"):
            for method in ("GET", "POST"):
                response = client.request(method, f"/u/{bad}")
                assert response.status_code == 404, (method, bad)
                assert 'data-state="invalid"' in response.text
    assert consent_of(db, cid) is True


@pytest.fixture
def app(db: Database) -> FastAPI:
    """No quiet hours: the exports run on the wall clock (quiet hours hold marketing back)."""
    return create_app(Settings(quiet_hours=""), db=db, hasher=HASHER)


def test_outbox_page_lists_retries_and_exports(
    app: FastAPI, db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    store = accounts["manager"].store_id
    a = consented(db, make_customer(db, name="张晓明", home_store_id=store,
                                    phone="+8613900001111"), "sms")  # fmt: skip
    elsewhere = make_customer(db, name="外店客户", home_store_id=accounts["clerk_b"].store_id)
    failed = message_for(db, a, "email", "f")
    message_for(db, a, "sms", "s")
    message_for(db, elsewhere, "email", "o")
    with db.write() as s:
        s.execute(update(Message).where(Message.id == failed)
                  .values(status="failed", attempts=3, reason="550 refused"))  # fmt: skip
    manager, csrf = client_for("manager")
    page = manager.get("/care/outbox")
    assert page.status_code == 200
    assert "张晓明" in page.text and "外店客户" not in page.text  # their store only
    assert 'data-status="failed"' in page.text and "550 refused" in page.text
    filtered = manager.get("/care/outbox?status=queued&channel=sms")
    assert filtered.text.count('data-testid="message"') == 1
    retried = manager.post("/care/outbox/retry", data={"csrf_token": csrf, "message_id": failed,
                                                       "back": "status=failed"},
                           follow_redirects=False)  # fmt: skip
    assert retried.status_code == 303
    assert retried.headers["location"] == "/care/outbox?status=failed&retried=1"
    with db.read() as s:
        assert s.get(Message, failed).status == "queued"  # type: ignore[union-attr]
    export = manager.post("/care/outbox/sms.csv", data={"csrf_token": csrf})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read it as UTF-8
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows == [["phone", "content"], ["13900001111", "张女士，新茶到店。回复TD退订"]]
    with db.read() as s:
        assert s.execute(select(Message.status).where(Message.dedupe_key == "s")).scalar_one() \
            == "exported"  # fmt: skip
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.MESSAGES_EXPORTED)).scalar_one()  # fmt: skip
    assert entry.actor_staff_id == accounts["manager"].id and entry.detail["exported"] == 1
    # Without the CSRF token the export is refused; clerks may not see the outbox.
    assert manager.post("/care/outbox/sms.csv", data={}).status_code == 403
    clerk, _ = client_for("clerk")
    assert clerk.get("/care/outbox").status_code == 403
