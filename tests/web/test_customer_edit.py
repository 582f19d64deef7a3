"""Editing the archive by hand: create and edit with messages next to fields, consent, notes,
personal data export and erasure, each audited and kept to the staff member's store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.services.customer_forms import CustomerForm, FormErrors, birthday_text
from guanxi.services.customer_import import import_customers
from guanxi.services.customer_privacy import phone_hmac
from guanxi.services.customers import get_customer_detail
from guanxi.services.imports import ImportOptions
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Anniversary,
    AuditEntry,
    Consent,
    ConsentEvent,
    Customer,
    CustomerNote,
    CustomerTag,
    Product,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
    ReturnLine,
)
from tests.factories import make_customer, write_csv
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
SECRET = "test erasure secret"
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def erasure_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUANXI_ERASURE_SECRET", SECRET)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def error_next_to(html: str, field: str) -> str:
    """The message shown for a field: the element its input's aria-describedby points at."""
    page = soup(html)
    control = page.find(id=f"f-{field}")
    assert control is not None, f"no field {field}"
    assert control.get("aria-invalid") == "true", f"{field} is not marked invalid"
    message = page.find(id=str(control["aria-describedby"]))
    assert message is not None
    return message.get_text(strip=True)


def text_of(html: str, selector: str) -> str:
    found = soup(html).select_one(selector)
    assert found is not None, f"nothing matches {selector}"
    return found.get_text(strip=True)


def posted_by_browser(page: BeautifulSoup) -> dict[str, str]:
    """What a browser sends for the customer form as shown: inputs, chosen options, text."""
    form = page.select_one("form[data-testid=customer-form]")
    assert form is not None
    data = {str(i["name"]): str(i.get("value", "")) for i in form.select("input")}
    for select_ in form.select("select"):
        chosen = select_.select_one("option[selected]") or select_.select_one("option")
        data[str(select_["name"])] = str(chosen["value"]) if chosen else ""
    data.update({str(t["name"]): t.text for t in form.select("textarea")})
    return data


def audit_rows(db: Database, action: str) -> list[tuple[Any, ...]]:
    with db.read() as s:
        rows = s.execute(
            select(AuditEntry.actor_staff_id, AuditEntry.target_id, AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [tuple(r) for r in rows]


def form_data(csrf: str, **fields: str) -> dict[str, str]:
    base = {"name": "王小明", "phone": "", "gender": "unknown", "source": "walk_in"}
    return {"csrf_token": csrf, **base, **fields}


# --- create ----------------------------------------------------------------------------------


def test_create_shows_each_message_next_to_its_field(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    assert client.get("/customers/new").status_code == 200
    bad = form_data(csrf, name="", phone="12345", birthday="2023-02-30", email="no-at-sign")
    response = client.post("/customers", data=bad)
    assert response.status_code == 422
    assert "name" in error_next_to(response.text, "name")
    assert "13812345678" in error_next_to(response.text, "phone")
    assert "February 2023 has 28 days" in error_next_to(response.text, "birthday")
    assert "email" in error_next_to(response.text, "email")
    assert "store" in error_next_to(response.text, "home_store_id")  # the owner must choose
    # what was typed is kept
    assert 'value="12345"' in str(soup(response.text).find(id="f-phone"))
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar_one() == 0


def test_create_normalises_and_audits(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    store_b = accounts["clerk_b"].store_id
    data = form_data(csrf, name="单田芳", phone="138 1234 5678", email=" Tian@Example.COM ",
                     birthday="农历八月十五", tags="VIP，老客户", home_store_id=str(store_b),
                     owner_staff_id=str(accounts["clerk_b"].id))  # fmt: skip
    response = client.post("/customers", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    customer_id = int(response.headers["location"].rsplit("/", 1)[1])
    with db.read() as s:
        c = s.get(Customer, customer_id)
        assert c is not None
        assert (c.phone, c.phone_last4, c.email) == ("+8613812345678", "5678", "tian@example.com")
        assert (c.name_pinyin, c.name_initials) == ("shantianfang", "stf")
        assert (c.birthday_kind, c.birthday_month, c.birthday_day) == ("lunar", 8, 15)
        assert (c.home_store_id, c.owner_staff_id) == (store_b, accounts["clerk_b"].id)
        assert sorted(t.name for t in c.tags) == ["VIP", "老客户"]
    [(actor, target, detail)] = audit_rows(db, "customer.created")
    assert (actor, target) == (accounts["owner"].id, str(customer_id))
    given = ["birthday", "email", "gender", "home_store_id", "name", "owner_staff_id", "phone",
             "source", "tags"]  # field names, never values  # fmt: skip
    assert detail == {"fields": given, "home_store_id": store_b}


def test_clerk_creates_in_their_own_store(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("clerk")
    page = soup(client.get("/customers/new").text)
    assert page.find(id="f-home_store_id") is None  # only the owner chooses a store
    other = str(accounts["clerk_b"].store_id)
    response = client.post(
        "/customers", data=form_data(csrf, home_store_id=other), follow_redirects=False
    )
    assert response.status_code == 303
    with db.read() as s:
        c = s.scalars(select(Customer)).one()
        assert c.home_store_id == accounts["clerk"].store_id


def test_duplicate_phone_is_refused_with_a_clear_message(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    existing = make_customer(db, phone="+8613812345678", home_store_id=accounts["clerk"].store_id)
    client, csrf = client_for("clerk")
    response = client.post("/customers", data=form_data(csrf, phone="13812345678"))
    assert response.status_code == 422
    message = error_next_to(response.text, "phone")
    assert f"already belongs to customer #{existing}" in message
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar_one() == 1


# --- edit ------------------------------------------------------------------------------------


def test_edit_saves_changes_keeps_the_masked_phone_and_audits_field_names(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    store_a = accounts["clerk"].store_id
    cid = make_customer(
        db, name="张三", phone="+8613812345678", home_store_id=store_a, city="上海", tags=["VIP"]
    )
    client, csrf = client_for("clerk")
    fields = posted_by_browser(soup(client.get(f"/customers/{cid}/edit").text))
    assert fields["phone"] == "138****5678"  # the clerk does not own the customer: masked
    fields.update(city="杭州", tags="VIP, 茶友")
    response = client.post(f"/customers/{cid}", data=fields, follow_redirects=False)
    assert response.status_code == 303, response.text
    detail = get_customer_detail(db, cid)
    assert detail.customer["city"] == "杭州" and detail.customer["phone"] == "+8613812345678"
    assert detail.tags == ["VIP", "茶友"]
    [(actor, target, logged)] = audit_rows(db, "customer.updated")
    assert (actor, target, logged) == (accounts["clerk"].id, str(cid), {"fields": ["city", "tags"]})
    shown = client.get(f"/customers/{cid}").text
    assert "杭州" in shown and "茶友" in shown


def test_edit_refuses_an_invalid_or_taken_phone(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    store_a = accounts["clerk"].store_id
    other = make_customer(db, phone="+8613900001111", home_store_id=store_a)
    cid = make_customer(db, name="李四", phone="+8613812345678", home_store_id=store_a)
    client, csrf = client_for("manager")
    for typed, expected in (
        ("1381234", "not a valid phone number"),
        ("139-0000-1111", f"customer #{other}"),
    ):
        response = client.post(f"/customers/{cid}", data=form_data(csrf, name="李四", phone=typed))
        assert response.status_code == 422
        assert expected in error_next_to(response.text, "phone")
    assert get_customer_detail(db, cid).customer["phone"] == "+8613812345678"
    assert audit_rows(db, "customer.updated") == []


def test_form_round_trips_a_stored_customer() -> None:
    stored = {
        "birthday_kind": "lunar",
        "birthday_year": None,
        "birthday_month": 4,
        "birthday_day": 8,
        "birthday_is_leap_month": True,
    }
    assert birthday_text(stored) == "农历闰04-08"
    clean = CustomerForm(name="陈", birthday=birthday_text(stored)).clean()
    assert {k: clean.columns[k] for k in stored} == stored
    assert CustomerForm(name="陈", birthday="1990-01-05").clean().columns["birthday_year"] == 1990
    with pytest.raises(FormErrors) as caught:
        CustomerForm(name="陈", source="nowhere", tags="x" * 65).clean()
    assert set(caught.value.errors) == {"source", "tags"}


# --- consent ---------------------------------------------------------------------------------


def test_consent_change_writes_consent_event_and_audit(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    client, csrf = client_for("clerk")
    headers = {**HTMX, "X-CSRF-Token": csrf}
    granted = client.post(
        f"/customers/{cid}/consent", data={"channel": "sms", "granted": "yes"}, headers=headers
    )
    assert granted.status_code == 200 and 'id="consent"' in granted.text
    assert "<html" not in granted.text
    plain = {"channel": "sms", "granted": "no", "csrf_token": csrf}  # a form without HTMX
    withdrawn = client.post(f"/customers/{cid}/consent", data=plain, follow_redirects=False)
    assert withdrawn.status_code == 303
    with db.read() as s:
        consent = s.get(Consent, (cid, "sms"))
        assert consent is not None and consent.is_granted is False and consent.source == "web"
        events = s.scalars(select(ConsentEvent.is_granted).order_by(ConsentEvent.id)).all()
    assert events == [True, False]
    assert [d for _, _, d in audit_rows(db, "consent.changed")] == [
        {"channel": "sms", "granted": True, "source": "web"},
        {"channel": "sms", "granted": False, "source": "web"},
    ]
    bad = client.post(
        f"/customers/{cid}/consent", data={"channel": "fax", "granted": "yes"}, headers=headers
    )
    assert bad.status_code == 422


# --- notes -----------------------------------------------------------------------------------


def test_note_is_added_to_the_timeline(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    client, csrf = client_for("clerk")
    headers = {**HTMX, "X-CSRF-Token": csrf}
    part = client.post(
        f"/customers/{cid}/notes", data={"text": "喜欢龙井，周末来店"}, headers=headers
    )
    assert part.status_code == 200 and "喜欢龙井，周末来店" in part.text
    assert accounts["clerk"].username in part.text  # signed by its author
    empty = client.post(f"/customers/{cid}/notes", data={"text": "  "}, headers=headers)
    assert "the note is empty" in text_of(empty.text, "[data-testid=error-note]")
    page = soup(client.get(f"/customers/{cid}").text)
    assert [n.text for n in page.select("[data-testid=note]")][0].endswith("喜欢龙井，周末来店")
    with db.read() as s:
        rows = s.execute(select(CustomerNote.customer_id, CustomerNote.staff_id, CustomerNote.text))
    assert [tuple(r) for r in rows] == [(cid, accounts["clerk"].id, "喜欢龙井，周末来店")]


# --- export and erasure ----------------------------------------------------------------------


NOW = datetime(2024, 5, 1, 10, tzinfo=UTC)
FILE = "import:a.csv"


def _purchase(store_id: int, customer_id: int, order: str, product_id: int, qty: int) -> Purchase:
    amount = Decimal(88 * qty)
    p = Purchase(store_id=store_id, external_order_id=order, customer_id=customer_id,
                 purchased_at=NOW, total_amount=amount)  # fmt: skip
    p.lines.append(PurchaseLine(line_no=1, product_id=product_id, quantity=Decimal(qty),
                                unit_price=Decimal(88), amount=amount))  # fmt: skip
    return p


def _history(db: Database, accounts: dict[str, Account]) -> int:
    """A customer with tags, consent, an anniversary, and two purchases, one partly returned."""
    store_a = accounts["manager"].store_id
    assert store_a is not None
    cid = make_customer(db, name="周杰", phone="+8613812345678", email="zj@example.com",
                        home_store_id=store_a, city="台北", tags=["VIP"])  # fmt: skip
    with db.write() as s:
        tea = Product(sku="LJ-1", name="龙井", category="绿茶", list_price=Decimal("88.00"))
        s.add_all([
            tea, Anniversary(customer_id=cid, label="结婚纪念日", occurs_on=date(2015, 6, 1)),
            Consent(customer_id=cid, channel="sms", is_granted=True, changed_at=NOW, source=FILE),
            ConsentEvent(customer_id=cid, channel="sms", is_granted=True, at=NOW, source=FILE),
        ])  # fmt: skip
        s.flush()
        first = _purchase(store_a, cid, "R1", tea.id, 2)
        s.add_all([first, _purchase(store_a, cid, "R2", tea.id, 1)])
        s.flush()
        back = PurchaseReturn(purchase_id=first.id, external_return_id="T1", returned_at=NOW,
                              refund_amount=Decimal(88))  # fmt: skip
        back.lines.append(ReturnLine(purchase_line_id=first.lines[0].id, quantity=Decimal(1),
                                     amount=Decimal(88)))  # fmt: skip
        s.add(back)
    return cid


def test_export_is_a_complete_audited_download(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = _history(db, accounts)
    clerk, _ = client_for("clerk")
    assert clerk.get(f"/customers/{cid}/export.json").status_code == 403
    manager, _ = client_for("manager")
    response = manager.get(f"/customers/{cid}/export.json")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        f'attachment; filename="customer-{cid}.json"'
    )
    data = json.loads(response.text)
    assert data["profile"]["name"] == "周杰" and data["profile"]["phone"] == "+8613812345678"
    assert data["profile"]["home_store"] == "旗舰店"
    assert data["tags"] == ["VIP"]
    assert data["consents"][0]["channel"] == "sms" and data["consents"][0]["granted"] is True
    assert [e["source"] for e in data["consent_history"]] == ["import:a.csv"]
    assert data["anniversaries"] == [
        {"label": "结婚纪念日", "occurs_on": "2015-06-01", "calendar": "solar"}
    ]
    first = data["purchases"][0]
    assert (first["order_id"], first["total_amount"]) == ("R1", "176.00")
    assert first["lines"][0]["sku"] == "LJ-1" and first["lines"][0]["quantity"] == "2.000"
    assert first["returns"][0]["refund_amount"] == "88.00"
    assert first["returns"][0]["lines"] == [{"line_no": 1, "quantity": "1.000", "amount": "88.00"}]
    assert audit_rows(db, "customer.exported") == [
        (accounts["manager"].id, str(cid), {"purchases": 2})
    ]


def erase(client: TestClient, csrf: str, cid: int, confirm: str) -> Any:
    data = {"confirm": confirm, "csrf_token": csrf}
    return client.post(f"/customers/{cid}/erase", data=data, follow_redirects=False)


def test_erasure_needs_the_id_or_name_typed_and_says_it_is_done(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = _history(db, accounts)
    client, csrf = client_for("manager")
    wrong = erase(client, csrf, cid, "周")
    assert wrong.status_code == 422 and soup(wrong.text).find(id="e-confirm") is not None
    assert get_customer_detail(db, cid).customer["name"] == "周杰"
    done = erase(client, csrf, cid, "周杰")
    assert done.status_code == 303 and done.headers["location"] == f"/customers?erased={cid}"
    message = soup(client.get(done.headers["location"]).text).select("[data-testid=erased-message]")
    assert f"#{cid}" in message[0].text
    assert erase(client, csrf, cid, f"#{cid}").status_code == 409  # once is enough
    assert client.get(f"/customers/{cid}/edit").status_code == 409
    assert client.post(f"/customers/{cid}", data=form_data(csrf, name="周杰")).status_code == 409


def test_erasure_anonymises_but_keeps_purchase_totals(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = _history(db, accounts)
    before = get_customer_detail(db, cid).summary
    client, csrf = client_for("manager")
    assert erase(client, csrf, cid, str(cid)).status_code == 303
    detail = get_customer_detail(db, cid)
    c = detail.customer
    assert c["name"] == f"已删除客户 #{cid}" and (c["name_pinyin"], c["name_initials"]) == ("", "")
    assert [c[k] for k in ("phone", "phone_last4", "email", "city", "birthday_month")] == [None] * 5
    assert c["erased_phone_hmac"] == phone_hmac("+8613812345678", SECRET)
    assert c["erased_at"] is not None and c["custom_fields"] == {}
    assert detail.tags == [] and detail.consents == {"sms": False}
    after = detail.summary
    assert (after.purchases, after.gross_spend, after.refunds) == (2, Decimal(264), Decimal(88))
    assert (after.gross_spend, after.net_spend) == (before.gross_spend, before.net_spend)
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Anniversary)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(CustomerTag)).scalar_one() == 0
        sources = s.scalars(select(ConsentEvent.source).order_by(ConsentEvent.id)).all()
    assert sources == ["import:a.csv", "erasure"]  # the evidence stays, with the withdrawal
    [(actor, target, logged)] = audit_rows(db, "customer.erased")
    assert (actor, target) == (accounts["manager"].id, str(cid))
    assert logged == {"consents_withdrawn": ["sms"], "purchases_kept": 2}  # nothing personal


def test_erasure_needs_the_secret(
    app: FastAPI,
    client_for: Factory,
    db: Database,
    accounts: dict[str, Account],
) -> None:
    app.state.guanxi.settings.erasure_secret = ""
    cid = make_customer(db, home_store_id=accounts["manager"].store_id)
    client, csrf = client_for("owner")
    response = client.post(
        f"/customers/{cid}/erase", data={"confirm": f"#{cid}", "csrf_token": csrf}
    )
    assert response.status_code == 503 and "GUANXI_ERASURE_SECRET" in response.text
    assert get_customer_detail(db, cid).customer["phone"] is not None


# --- scope -----------------------------------------------------------------------------------


def test_staff_of_another_store_cannot_touch_the_customer(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, name="张三", home_store_id=accounts["clerk"].store_id)
    client, csrf = client_for("clerk_b")
    assert client.get(f"/customers/{cid}/edit").status_code == 404
    data = form_data(csrf, name="改名")
    assert client.post(f"/customers/{cid}", data=data).status_code == 404
    consent = {"channel": "sms", "granted": "yes", "csrf_token": csrf}
    assert client.post(f"/customers/{cid}/consent", data=consent).status_code == 404
    note = {"text": "x", "csrf_token": csrf}
    assert client.post(f"/customers/{cid}/notes", data=note).status_code == 404
    assert get_customer_detail(db, cid).customer["name"] == "张三"


# --- list filters ----------------------------------------------------------------------------


def names(html: str) -> set[str]:
    return {a.text for a in soup(html).select("table.list tbody a")}


def test_list_filters_by_store_account_owner_and_tag(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    a, b = accounts["clerk"].store_id, accounts["clerk_b"].store_id
    make_customer(db, name="张三", home_store_id=a, owner_staff_id=accounts["clerk"].id)
    make_customer(db, name="赵四", home_store_id=a, tags=["VIP"])
    make_customer(db, name="钟山", home_store_id=b, tags=["VIP"])
    owner, _ = client_for("owner")
    assert names(owner.get(f"/customers?store={b}").text) == {"钟山"}
    assert names(owner.get("/customers?tag=VIP").text) == {"赵四", "钟山"}
    assert names(owner.get(f"/customers?owner={accounts['clerk'].id}").text) == {"张三"}
    part = owner.get(f"/customers?q=&store={a}&owner=&tag=VIP", headers=HTMX)
    assert names(part.text) == {"赵四"} and "<html" not in part.text
    assert part.headers["HX-Push-Url"] == f"/customers?store={a}&tag=VIP"  # no empty params
    clerk, _ = client_for("clerk")
    assert soup(clerk.get("/customers").text).find(id="filter-store") is None
    assert names(clerk.get(f"/customers?store={b}").text) == {"张三", "赵四"}  # scope holds


def test_search_keeps_the_tag_and_account_owner_filters(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    a, clerk = accounts["clerk"].store_id, accounts["clerk"].id
    make_customer(db, name="张三", home_store_id=a, owner_staff_id=clerk, tags=["VIP"])
    make_customer(db, name="张三丰", home_store_id=a, owner_staff_id=clerk)
    make_customer(db, name="张山", home_store_id=a, tags=["VIP"])
    owner, _ = client_for("owner")
    assert names(owner.get("/customers?q=zs").text) == {"张三", "张三丰", "张山"}
    assert names(owner.get("/customers?q=zs&tag=VIP").text) == {"张三", "张山"}
    assert names(owner.get(f"/customers?q=zs&owner={clerk}").text) == {"张三", "张三丰"}
    both = owner.get(f"/customers?q=zs&owner={clerk}&tag=VIP", headers=HTMX)
    assert names(both.text) == {"张三"} and "filters apply" not in both.text
    assert names(owner.get("/customers?q=VIP&tag=VIP").text) == {"张三", "张山"}  # tag match


def test_reimport_after_erasure_does_not_bring_back_consent(
    app: FastAPI, client_for: Factory, db: Database, accounts: dict[str, Account], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        ["姓名", "手机", "同意营销", "门店"],
        [["回头客", "13812345678", "是", "旗舰店"]],
    )
    options = ImportOptions(erasure_secret=SECRET)
    assert import_customers(db, path, options).inserted == 1
    with db.read() as s:
        cid = s.execute(select(Customer.id).where(Customer.phone == "+8613812345678")).scalar_one()
    client, csrf = client_for("manager")
    assert erase(client, csrf, cid, str(cid)).status_code == 303
    again = import_customers(db, path, options)
    assert again.inserted == 1 and any("erased on request" in w for w in again.warnings)
    with db.read() as s:
        new = s.execute(select(Customer).where(Customer.phone == "+8613812345678")).scalar_one()
        assert new.id != cid and new.consents == []
    without_secret = import_customers(
        db,
        write_csv(
            tmp_path / "d.csv", ["姓名", "手机", "同意营销"], [["别人", "13900001111", "是"]]
        ),
        ImportOptions(),
    )
    assert without_secret.inserted == 1 and not without_secret.warnings
