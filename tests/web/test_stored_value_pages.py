"""The stored-value pages: the customer page's section, the card page (history, top up,
refund), and the owner's top-up bonus tiers, per role."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from guanxi.domain.staff import Role
from guanxi.loyalty import stored_value as sv
from guanxi.loyalty.stored_value import Balance, BonusRule
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
D = Decimal


def english(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def found(page: BeautifulSoup, testid: str) -> bool:
    return page.select_one(f"[data-testid={testid}]") is not None


def text_of(page: BeautifulSoup, testid: str) -> str:
    hit = page.select_one(f"[data-testid={testid}]")
    assert hit is not None, f"no {testid}"
    return hit.get_text(" ", strip=True)


def key_of(page: BeautifulSoup, form: str) -> str:
    field = page.select_one(f"[data-testid={form}] [name=key]")
    assert field is not None
    return str(field["value"])


def _owner(accounts: dict[str, Account]) -> StaffMember:
    return StaffMember(accounts["owner"].id, "owner", Role.OWNER, None, None, None)


@pytest.fixture
def customer(db: Database, accounts: dict[str, Account]) -> int:
    """A customer of store A with ¥1000 paid + ¥100 bonus on the card, ¥110 spent."""
    sv.save_rules(db, _owner(accounts), [BonusRule(D(1000), D(100))])
    cid = make_customer(db, name="储值客", home_store_id=accounts["manager"].store_id)
    sv.top_up(db, cid, D(1000), payment_method="cash", reference="P-1", idempotency_key=None,
              actor_id=accounts["clerk"].id)  # fmt: skip
    sv.spend(db, cid, D(110), reference="O-7", idempotency_key=None)
    return cid


@pytest.mark.parametrize("who", ["clerk", "manager", "owner"])
def test_the_customer_page_shows_the_card_per_role(
    client_for: Factory, customer: int, who: str
) -> None:
    client, _ = client_for(who)
    page = soup(english(client).get(f"/customers/{customer}").text)
    assert text_of(page, "sv-paid") == "CN¥900.00"
    assert text_of(page, "sv-bonus") == "CN¥90.00"
    assert text_of(page, "sv-total") == "CN¥990.00"
    rows = [[td.get_text(" ", strip=True) for td in r.find_all("td")]
            for r in page.select("[data-testid=sv-row]")]  # fmt: skip
    assert [r[1:5] for r in rows] == [
        ["Spend", "-CN¥100.00", "-CN¥10.00", "CN¥990.00"],
        ["Top-up", "CN¥1,000.00", "CN¥100.00", "CN¥1,100.00"],
    ]
    assert "O-7" in rows[0][5] and rows[1][6] == "clerk"
    assert found(page, "sv-top-up-form")
    assert found(page, "sv-refund-form") == (who != "clerk")
    assert found(page, "nav-stored-value") == (who == "owner")


def test_a_clerk_tops_up_once_on_a_double_submit(
    db: Database, client_for: Factory, customer: int
) -> None:
    client, csrf = client_for("clerk")
    page = soup(english(client).get(f"/customers/{customer}").text)
    data = {"csrf_token": csrf, "amount": "1,000", "payment_method": "wechat_pay",
            "reference": "WX-9", "key": key_of(page, "sv-top-up-form")}  # fmt: skip
    url = f"/customers/{customer}/stored-value/top-up"
    done = client.post(url, data=data, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/customers/{customer}/stored-value?done=topped_up"
    assert client.post(url, data=data, follow_redirects=False).status_code == 303
    assert sv.balance(db, customer) == Balance(D(1900), D(190))
    card = soup(client.get(done.headers["location"]).text)
    assert found(card, "sv-topped-up") and text_of(card, "sv-total") == "CN¥2,090.00"
    assert len(card.select("[data-testid=sv-row]")) == 3


def test_top_up_errors_stand_next_to_the_fields(
    db: Database, client_for: Factory, customer: int
) -> None:
    client, csrf = client_for("clerk")
    bad = english(client).post(f"/customers/{customer}/stored-value/top-up",
                               data={"csrf_token": csrf, "amount": "12.345", "reference": "x",
                                     "payment_method": "points"})  # fmt: skip
    assert bad.status_code == 422
    page = soup(bad.text)
    assert found(page, "error-amount") and found(page, "error-payment_method")
    assert page.select_one("#sv-amount")["value"] == "12.345"  # type: ignore[index]
    assert sv.balance(db, customer).total == D(990)


def test_a_manager_refunds_paid_money_and_forfeits_the_bonus(
    db: Database, client_for: Factory, customer: int
) -> None:
    client, csrf = client_for("manager")
    page = soup(english(client).get(f"/customers/{customer}/stored-value").text)
    data = {"csrf_token": csrf, "amount": "", "reason": "moving away", "payment_method": "cash",
            "key": key_of(page, "sv-refund-form")}  # fmt: skip
    url = f"/customers/{customer}/stored-value/refund"
    done = client.post(url, data=data, follow_redirects=False)
    assert done.status_code == 303
    assert client.post(url, data=data, follow_redirects=False).status_code == 303  # once
    assert sv.balance(db, customer) == Balance(D(0), D(0))
    kinds = [e.kind.value for e in sv.history(db, customer)]
    assert kinds == ["forfeit", "refund", "spend", "top_up"]
    logged = audit.list_entries(db, action=sv.AUDIT_REFUNDED)
    assert [(r.actor, r.detail["paid"], r.detail["forfeit"]) for r in logged] == [
        ("manager", "900.00", "90.00")]  # fmt: skip
    card = soup(client.get(done.headers["location"]).text)
    assert found(card, "sv-refunded") and not found(card, "sv-refund-form")


def test_refund_needs_a_reason_and_at_most_the_paid_money(
    db: Database, client_for: Factory, customer: int
) -> None:
    client, csrf = client_for("owner")
    url = f"/customers/{customer}/stored-value/refund"
    english(client)
    no_reason = client.post(url, data={"csrf_token": csrf, "amount": "10",
                                       "payment_method": "cash"})  # fmt: skip
    assert no_reason.status_code == 422 and found(soup(no_reason.text), "error-reason")
    too_much = client.post(url, data={"csrf_token": csrf, "amount": "950", "reason": "x",
                                      "payment_method": "cash"})  # fmt: skip
    assert too_much.status_code == 422
    assert "CN¥900.00" in text_of(soup(too_much.text), "error-refund_amount")
    assert sv.balance(db, customer).total == D(990)


def test_a_clerk_may_not_refund_and_other_stores_are_hidden(
    db: Database, client_for: Factory, customer: int, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("clerk")
    data = {"csrf_token": csrf, "reason": "x", "payment_method": "cash"}
    assert client.post(f"/customers/{customer}/stored-value/refund", data=data).status_code == 403
    other = make_customer(db, home_store_id=accounts["clerk_b"].store_id)
    assert client.get(f"/customers/{other}/stored-value").status_code == 404
    top = {"csrf_token": csrf, "amount": "5", "payment_method": "cash"}
    assert client.post(f"/customers/{other}/stored-value/top-up", data=top).status_code == 404
    assert sv.balance(db, other).total == 0


def test_the_card_page_pages_the_history(db: Database, client_for: Factory, customer: int) -> None:
    for i in range(25):
        sv.top_up(db, customer, D(i + 1), payment_method="cash", idempotency_key=None)
    client, _ = client_for("clerk")
    first = soup(english(client).get(f"/customers/{customer}/stored-value").text)
    assert len(first.select("[data-testid=sv-row]")) == 20
    older = first.select_one("[data-testid=sv-older]")
    assert older is not None
    second = soup(client.get(str(older["href"])).text)
    assert len(second.select("[data-testid=sv-row]")) == 7  # 5 top-ups, the spend, the first
    assert found(second, "sv-newest") and not found(second, "sv-older")


def test_the_owner_edits_the_bonus_tiers(db: Database, client_for: Factory, customer: int) -> None:
    client, csrf = client_for("owner")
    page = soup(english(client).get("/loyalty/stored-value").text)
    assert [i["value"] for i in page.select("[name=min_amount]")][:1] == ["1000.00"]
    data = {"csrf_token": csrf, "min_amount": ["1000", "500", ""], "bonus": ["100", "40", ""]}
    saved = client.post("/loyalty/stored-value", data=data, follow_redirects=False)
    assert saved.status_code == 303
    assert sv.rules(db) == (BonusRule(D(1000), D(100)), BonusRule(D(500), D(40)))
    assert audit.list_entries(db, action=sv.AUDIT_RULES_CHANGED)[0].actor == "owner"
    bad = client.post("/loyalty/stored-value",
                      data={"csrf_token": csrf, "min_amount": ["500", "abc"],
                            "bonus": ["600", "1"]})  # fmt: skip
    assert bad.status_code == 422 and found(soup(bad.text), "error-row-1")
    worse = client.post(
        "/loyalty/stored-value", data={"csrf_token": csrf, "min_amount": ["500"], "bonus": ["600"]}
    )
    assert worse.status_code == 422 and "more than the top-up" in text_of(
        soup(worse.text), "tiers-error")  # fmt: skip
    assert len(sv.rules(db)) == 2


@pytest.mark.parametrize("who", ["clerk", "manager"])
def test_only_the_owner_sees_the_tiers(
    client_for: Factory, accounts: dict[str, Account], who: str
) -> None:
    client, csrf = client_for(who)
    assert client.get("/loyalty/stored-value").status_code == 403
    data = {"csrf_token": csrf, "min_amount": "1", "bonus": "1"}
    assert client.post("/loyalty/stored-value", data=data).status_code == 403
