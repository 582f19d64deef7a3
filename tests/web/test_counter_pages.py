"""The counter screen (收银台): find by phone tail with masked phones, record a purchase once,
redeem once, refuse overspending, keep clerks to their store's customers."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.domain.staff import Role
from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import Programme, save_programme
from guanxi.loyalty.rules import EarningProgram
from guanxi.loyalty.tiers import Tier
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import PointsEntry, Product, Purchase
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
TIERS = (
    Tier("normal", "普通会员", Decimal(0)),
    Tier("silver", "银卡", Decimal(1000), Decimal(2), Decimal("0.05"), ("免费包装",)),
)


def english(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def text_of(page: BeautifulSoup, testid: str) -> str:
    found = page.select_one(f"[data-testid={testid}]")
    assert found is not None, f"no {testid}"
    return found.get_text(" ", strip=True)


def form_key(html: str) -> str:
    field = soup(html).select_one("[data-testid=redeem-form] input[name=key]")
    assert field is not None
    return str(field["value"])


@pytest.fixture
def shop(db: Database, accounts: dict[str, Account]) -> dict[str, int]:
    """Tiers on; two customers of store A sharing the phone tail 5678, one of store B."""
    owner = accounts["owner"]
    staff = StaffMember(owner.id, "owner", Role.OWNER, None, None, None)
    save_programme(db, staff, Programme(EarningProgram(), None, TIERS))
    store_a, store_b = accounts["clerk"].store_id, accounts["clerk_b"].store_id
    return {
        "wang": make_customer(db, name="王芳", phone="+8613812345678", home_store_id=store_a),
        "li": make_customer(db, name="李娜", phone="+8613998765678", home_store_id=store_a),
        "zhao": make_customer(db, name="赵敏", phone="+8613700005678", home_store_id=store_b),
    }


def test_lookup_by_phone_tail_lists_masked_phones_of_the_clerks_store(
    client_for: Factory, shop: dict[str, int]
) -> None:
    client, _ = client_for("clerk")
    page = soup(english(client).get("/counter", params={"q": "5678"}).text)
    rows = page.select("[data-testid=counter-hit]")
    assert sorted(int(str(r["data-customer"])) for r in rows) == sorted([shop["wang"], shop["li"]])
    phones = sorted(r.select_one(".phone").get_text(strip=True) for r in rows)  # type: ignore[union-attr]
    assert phones == ["138****5678", "139****5678"]
    html = str(page)
    assert "13812345678" not in html and "13998765678" not in html
    assert all("普通会员" in r.get_text() for r in rows)  # the lowest tier until a purchase
    search = page.select_one("#counter-q")
    assert search is not None and search.has_attr("autofocus")


def test_one_match_goes_straight_to_the_customer(client_for: Factory, shop: dict[str, int]) -> None:
    client, _ = client_for("clerk")
    found = client.get("/counter", params={"q": "王芳"}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/counter/{shop['wang']}"
    page = soup(english(client).get(found.headers["location"]).text)
    assert text_of(page, "counter-phone") == "138****5678"
    assert text_of(page, "counter-balance") == "0"
    assert "¥1,000.00 more to reach 银卡" in text_of(page, "tier-next")


def test_clerk_of_store_a_cannot_see_store_b_customers(
    client_for: Factory, shop: dict[str, int]
) -> None:
    client, csrf = client_for("clerk")
    page = soup(client.get("/counter", params={"q": "5678"}).text)
    ids = {int(str(r["data-customer"])) for r in page.select("[data-testid=counter-hit]")}
    assert shop["zhao"] not in ids
    assert client.get(f"/counter/{shop['zhao']}").status_code == 404
    sale = {"csrf_token": csrf, "receipt": "X1", "amount": "10"}
    assert client.post(f"/counter/{shop['zhao']}/purchase", data=sale).status_code == 404
    redeem = {"csrf_token": csrf, "points": "1", "reason": "x", "key": "a" * 32}
    assert client.post(f"/counter/{shop['zhao']}/redeem", data=redeem).status_code == 404
    other, _ = client_for("clerk_b")
    assert other.get(f"/counter/{shop['zhao']}").status_code == 200


def test_a_purchase_sent_twice_accrues_points_once(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    client, csrf = client_for("clerk")
    cid = shop["wang"]
    sale = {"csrf_token": csrf, "receipt": "R-1001", "amount": "1,200.50"}
    first = client.post(f"/counter/{cid}/purchase", data=sale, follow_redirects=False)
    second = client.post(f"/counter/{cid}/purchase", data=sale, follow_redirects=False)
    assert first.status_code == second.status_code == 303, second.text
    assert first.headers["location"] == second.headers["location"]
    assert re.fullmatch(rf"/counter/{cid}\?sale=\d+", first.headers["location"])
    page = soup(english(client).get(first.headers["location"]).text)
    assert "receipt R-1001" in text_of(page, "sale-done")
    assert text_of(page, "sale-points") == "+1,200 points"
    assert "Base: ¥1200.5" in text_of(page, "sale-steps")  # how the points came about
    assert text_of(page, "counter-balance") == "1,200"
    assert text_of(page, "tier-name") == "银卡"  # upgraded at once by this purchase
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Purchase)).scalar_one() == 1
        earned = s.execute(select(func.sum(PointsEntry.points))).scalar_one()
        assert earned == 1200
        purchase = s.execute(select(Purchase)).scalar_one()
        assert purchase.store_id == client_store(db, "A")
    assert ledger.balance(db, cid) == 1200


def client_store(db: Database, code: str) -> int:
    from guanxi.storage.models import Store

    with db.read() as s:
        return int(s.execute(select(Store.id).where(Store.code == code)).scalar_one())


def test_a_receipt_reused_with_another_amount_is_refused(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    client, csrf = client_for("clerk")
    cid = shop["wang"]
    data = {"csrf_token": csrf, "receipt": "R-7", "amount": "50", "category": ""}
    assert (
        client.post(f"/counter/{cid}/purchase", data=data, follow_redirects=False).status_code
        == 303
    )
    again = english(client).post(f"/counter/{cid}/purchase", data={**data, "amount": "60"})
    assert again.status_code == 422
    assert "recorded before" in text_of(soup(again.text), "error-receipt")
    assert ledger.balance(db, cid) == 50


def test_sale_errors_stand_next_to_the_fields(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    with db.write() as s:
        s.add(Product(sku="tea-1", name="龙井", category="tea"))
    client, csrf = client_for("clerk")
    bad = {"csrf_token": csrf, "receipt": "", "amount": "-5", "category": "shoes"}
    response = english(client).post(f"/counter/{shop['wang']}/purchase", data=bad)
    assert response.status_code == 422
    page = soup(response.text)
    for name in ("receipt", "amount", "category"):
        assert page.select_one(f"[data-testid=error-{name}]") is not None, name
    amount = page.select_one("#sale-amount")
    assert amount is not None and amount["value"] == "-5"
    options = [o.get_text() for o in page.select("#sale-category option")]
    assert "tea" in options


def test_a_category_sale_uses_a_category_product(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    with db.write() as s:
        s.add(Product(sku="tea-1", name="龙井", category="tea"))
    client, csrf = client_for("clerk")
    data = {"csrf_token": csrf, "receipt": "T-1", "amount": "30", "category": "tea"}
    assert (
        client.post(
            f"/counter/{shop['li']}/purchase", data=data, follow_redirects=False
        ).status_code
        == 303
    )
    with db.read() as s:
        product = s.execute(select(Product).where(Product.sku == "counter:tea")).scalar_one()
        assert product.category == "tea"


def test_redeem_sent_twice_redeems_once(
    db: Database, client_for: Factory, shop: dict[str, int], accounts: dict[str, Account]
) -> None:
    cid = shop["li"]
    ledger.earn(db, cid, 100, source_type="purchase", source_id=1, expires_on=None,
                reason="p", explanation={}, idempotency_key=None)  # fmt: skip
    client, csrf = client_for("clerk")
    key = form_key(client.get(f"/counter/{cid}").text)
    data = {"csrf_token": csrf, "points": "30", "reason": "gift", "key": key}
    first = client.post(f"/counter/{cid}/redeem", data=data, follow_redirects=False)
    second = client.post(f"/counter/{cid}/redeem", data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert ledger.balance(db, cid) == 70
    page = soup(english(client).get(first.headers["location"]).text)
    assert "Redeemed 30 points" in text_of(page, "redeem-done")
    assert text_of(page, "counter-balance") == "70"
    assert form_key(str(page)) != key  # a fresh form: the next redemption is a new one
    with db.read() as s:
        redeemed = (
            s.execute(select(PointsEntry).where(PointsEntry.kind == "redeem")).scalars().all()
        )
        assert [(e.points, e.actor_staff_id) for e in redeemed] == [(-30, accounts["clerk"].id)]


def test_redeeming_more_than_the_balance_says_so(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    cid = shop["li"]
    ledger.earn(db, cid, 20, source_type="purchase", source_id=1, expires_on=None,
                reason="p", explanation={}, idempotency_key=None)  # fmt: skip
    client, csrf = client_for("clerk")
    data = {"csrf_token": csrf, "points": "50", "reason": "gift", "key": "b" * 32}
    response = english(client).post(f"/counter/{cid}/redeem", data=data)
    assert response.status_code == 422
    page = soup(response.text)
    assert text_of(page, "error-points") == (
        "Not enough points: the balance is 20, so at most 20 can be redeemed."
    )
    field = page.select_one("#redeem-points")
    assert field is not None and field["value"] == "50"
    assert ledger.balance(db, cid) == 20
    no_reason = {"csrf_token": csrf, "points": "x", "key": "c" * 32}
    empty = english(client).post(f"/counter/{cid}/redeem", data=no_reason)
    assert empty.status_code == 422
    assert soup(empty.text).select_one("[data-testid=error-reason]") is not None


def test_owner_picks_the_store_of_the_sale(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    client, csrf = client_for("owner")
    cid = shop["zhao"]
    page = soup(client.get(f"/counter/{cid}").text)
    assert len(page.select("#sale-store option")) == 2
    store_b = client_store(db, "B")
    data = {"csrf_token": csrf, "receipt": "O-1", "amount": "10", "store": str(store_b)}
    assert (
        client.post(f"/counter/{cid}/purchase", data=data, follow_redirects=False).status_code
        == 303
    )
    with db.read() as s:
        assert s.execute(select(Purchase.store_id)).scalar_one() == store_b
    missing = english(client).post(f"/counter/{cid}/purchase",
                                   data={**data, "receipt": "O-2", "store": ""})  # fmt: skip
    assert missing.status_code == 422
    assert soup(missing.text).select_one("[data-testid=error-store]") is not None


def test_the_counter_link_shows_for_clerks(client_for: Factory, shop: dict[str, int]) -> None:
    client, _ = client_for("clerk")
    assert soup(client.get("/customers").text).select_one("[data-testid=nav-counter]") is not None
