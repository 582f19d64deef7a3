"""The referrals page (advocates, graph) per role, the customer page's referral section and
its attach form, and GET /api/v1/customers/{id}/referral."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.loyalty.referrals import attach_referrer, referral_code
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Purchase
from guanxi.web.routes import referrals as page_module
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of

Factory = Callable[[str], tuple[TestClient, str]]


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _english(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def _bought(db: Database, store: int | None, customer: int, amount: str) -> None:
    with db.write() as session:
        session.add(Purchase(store_id=store, external_order_id=f"o{customer}",
                             customer_id=customer, purchased_at=datetime.now(UTC),
                             total_amount=Decimal(amount)))  # fmt: skip


def _family(db: Database, accounts: dict[str, Account]) -> dict[str, int]:
    """Store A: 王 referred 李 (bought 300) and 赵; 李 referred 孙. Store B: 周 referred 吴."""
    a, b = accounts["manager"].store_id, accounts["clerk_b"].store_id
    homes = (("王", a), ("李", a), ("赵", a), ("孙", a), ("周", b), ("吴", b))
    ids = {n: make_customer(db, name=n, home_store_id=s) for n, s in homes}
    for child, parent in (("李", "王"), ("赵", "王"), ("孙", "李"), ("吴", "周")):
        attach_referrer(db, ids[child], ids[parent], actor_id=None)
    _bought(db, a, ids["李"], "300")
    _bought(db, b, ids["吴"], "900")
    return ids


def test_referrals_page_per_role(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    ids = _family(db, accounts)
    clerk, _ = client_for("clerk")
    assert clerk.get("/referrals").status_code == 403
    assert 'href="/referrals"' not in clerk.get("/customers").text  # no nav link for clerks
    manager, _ = client_for("manager")
    page = soup(_english(manager).get("/referrals").text)
    assert page.select_one("[data-testid=nav-referrals]") is not None
    ranked = [row["data-customer"] for row in page.select("[data-testid=advocate]")]
    assert ranked == [str(ids["王"]), str(ids["李"])]  # spend of the referred: 300, 0
    assert str(ids["周"]) not in ranked  # another store's referrer
    nodes = {n["data-customer"] for n in page.select("[data-testid=graph-node]")}
    assert nodes == {str(ids[n]) for n in ("王", "李", "赵", "孙")}
    assert page.select_one(f"[data-testid=graph-list] a[href='/customers/{ids['孙']}']")
    owner, _ = client_for("owner")
    page = soup(_english(owner).get("/referrals?by=spend").text)
    ranked = [row["data-customer"] for row in page.select("[data-testid=advocate]")]
    assert ranked == [str(ids["周"]), str(ids["王"]), str(ids["李"])]  # 900, 300, 0
    by_count = soup(owner.get("/referrals?by=referred").text)
    assert by_count.select("[data-testid=advocate]")[0]["data-customer"] == str(ids["王"])
    positions = {(n["data-x"], n["data-y"]) for n in page.select("[data-testid=graph-node]")}
    assert len(positions) == 6  # six nodes, six places


def test_graph_is_limited_to_the_largest_trees(
    db: Database,
    client_for: Factory,
    accounts: dict[str, Account],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _family(db, accounts)
    monkeypatch.setattr(page_module, "MAX_TREES", 1)
    owner, _ = client_for("owner")
    page = soup(_english(owner).get("/referrals").text)
    note = page.select_one("[data-testid=graph-note]")
    assert note is not None and "largest of 2" in note.get_text()
    assert len(page.select("[data-testid=graph-node]")) == 4


def test_customer_section_shows_code_referrer_and_referred(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    ids = _family(db, accounts)
    clerk, _ = client_for("clerk")
    page = soup(_english(clerk).get(f"/customers/{ids['王']}").text)
    code = page.select_one("[data-testid=referral-code]")
    assert code is not None and code.get_text() == referral_code(db, ids["王"])
    link = page.select_one("[data-testid=referral-link]")
    assert link is not None and f"/r/{code.get_text()}" in link.get_text()
    rows = [r["data-customer"] for r in page.select("[data-testid=referred-row]")]
    assert rows == [str(ids["李"]), str(ids["赵"])]
    assert page.select_one("[data-testid=referrer-form]") is not None  # new, no referrer
    child = soup(clerk.get(f"/customers/{ids['孙']}").text)
    assert child.select_one("[data-testid=referrer-form]") is None  # has a referrer
    referred_by = child.select_one("[data-testid=referred-by]")
    assert referred_by is not None and "李" in referred_by.get_text()


def test_clerk_attaches_a_referrer_by_code_and_sees_refusals(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    store = accounts["clerk"].store_id
    friend = make_customer(db, name="朋友", home_store_id=store)
    newcomer = make_customer(db, name="新客", home_store_id=store)
    clerk, csrf = client_for("clerk")
    _english(clerk)
    page = soup(clerk.get(f"/customers/{newcomer}").text)
    assert page.select_one("[data-testid=referrer-form]") is not None
    mine = referral_code(db, newcomer)
    own = clerk.post(f"/customers/{newcomer}/referrer", data={"csrf_token": csrf, "referrer": mine})
    assert own.status_code == 422
    error = soup(own.text).select_one("[data-testid=error-referrer]")
    assert error is not None and "cannot refer themselves" in error.get_text()
    unknown = clerk.post(f"/customers/{newcomer}/referrer",
                         data={"csrf_token": csrf, "referrer": "nobody"})  # fmt: skip
    assert unknown.status_code == 422 and "No customer has that" in unknown.text
    done = clerk.post(f"/customers/{newcomer}/referrer",
                      data={"csrf_token": csrf, "referrer": referral_code(db, friend).lower()},
                      follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    with db.read() as session:
        assert session.get(Customer, newcomer).referred_by_id == friend  # type: ignore[union-attr]
    after = soup(clerk.get(done.headers["location"]).text)
    assert after.select_one("[data-testid=referral-attached]") is not None
    assert after.select_one("[data-testid=referrer-form]") is None  # one referrer only


def test_clerk_of_another_store_cannot_attach(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    newcomer = make_customer(db, home_store_id=accounts["clerk"].store_id)
    friend = make_customer(db, home_store_id=accounts["clerk"].store_id)
    other, csrf = client_for("clerk_b")
    code = referral_code(db, friend)
    response = other.post(
        f"/customers/{newcomer}/referrer", data={"csrf_token": csrf, "referrer": code}
    )
    assert response.status_code == 404
    with db.read() as session:
        assert session.execute(select(Customer.referred_by_id)
                               .where(Customer.id == newcomer)).scalar() is None  # fmt: skip


def test_api_referral_code_and_counts(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    ids = _family(db, accounts)
    client = api(app)
    client.headers.update(bearer(db, accounts["clerk"], "customers:read"))
    got = client.get(f"/api/v1/customers/{ids['王']}/referral")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["code"] == referral_code(db, ids["王"])
    assert body["link"] == f"/r/{body['code']}"
    assert (body["referred_count"], body["rewarded_count"], body["referred_by_id"]) == (2, 0, None)
    assert client.get(f"/api/v1/customers/{ids['王']}/referral").json()["code"] == body["code"]
    hidden = client.get(f"/api/v1/customers/{ids['周']}/referral")  # another store's customer
    assert hidden.status_code == 404 and error_of(hidden)["code"] == "not_found"
    no_scope = api(app)
    no_scope.headers.update(bearer(db, accounts["clerk"], "purchases:read"))
    assert no_scope.get(f"/api/v1/customers/{ids['王']}/referral").status_code == 403
