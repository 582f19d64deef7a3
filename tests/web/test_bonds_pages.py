"""The bonds report (/bonds) and one customer's bonds panel, as parsed HTML."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from guanxi.storage.db import Database
from guanxi.storage.models import CustomerScore, PointsBalance, Purchase, ServicePlan
from tests.factories import make_customer
from tests.web.conftest import Account

Client = Callable[[str], tuple[TestClient, str]]


@pytest.fixture(autouse=True)
def routes(accounts: dict[str, Account]) -> None:
    """Every test here signs someone in: the accounts exist first."""


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _shop(db: Database, stores: tuple[int, int]) -> tuple[int, int, int]:
    """A loyal customer with points and a plan who bought in both years, a lapsed one with
    nothing who bought only in the earlier year, and one of the other store."""
    now = datetime.now(UTC)
    loyal = make_customer(db, home_store_id=stores[0])
    lapsed = make_customer(db, home_store_id=stores[0])
    other = make_customer(db, home_store_id=stores[1])
    month = date.today().replace(day=1)
    with db.write() as s:
        s.add_all([
            PointsBalance(customer_id=loyal, points=100),
            ServicePlan(customer_id=loyal, name="普洱仓储服务", status="active",
                        created_at=now - timedelta(days=10)),
            CustomerScore(customer_id=loyal, month=month, computed_on=date.today(), rung="loyal"),
            CustomerScore(customer_id=lapsed, month=month, computed_on=date.today(),
                          rung="lapsed"),
        ])  # fmt: skip
        for n, (customer, days) in enumerate(((loyal, 500), (loyal, 30), (lapsed, 500),
                                              (other, 500))):  # fmt: skip
            store = stores[1] if customer == other else stores[0]
            at = now - timedelta(days=days)
            s.add(Purchase(store_id=store, external_order_id=f"O{n}", customer_id=customer,
                           purchased_at=at, total_amount=Decimal(99)))  # fmt: skip
    return loyal, lapsed, other


def _cells(row: object, testid: str) -> list[str]:
    return [td.text.strip() for td in row.find_all(attrs={"data-testid": testid})]  # type: ignore[attr-defined]


def test_report_for_the_manager_counts_their_store(
    db: Database, client_for: Client, stores: tuple[int, int]
) -> None:
    _shop(db, stores)
    manager, _ = client_for("manager")
    response = manager.get("/bonds")
    assert response.status_code == 200
    soup = _soup(response.text)
    rows = {r["data-rung"]: r for r in soup.find_all(attrs={"data-testid": "bonds-row"})}
    assert list(rows) == ["loyal", "lapsed"]  # ladder order
    assert _cells(rows["loyal"], "bonds-customers") == ["0", "0", "1", "0"]
    assert _cells(rows["lapsed"], "bonds-customers") == ["1", "0", "0", "0"]
    total = soup.find(attrs={"data-testid": "bonds-total"})
    retention = total.find_all(attrs={"data-testid": "bonds-retention"})
    assert [r["data-base"] for r in retention] == ["1", "0", "1", "0"]
    assert retention[0].text.strip() == "0%" and retention[2].text.strip() == "100%"
    assert soup.find(attrs={"data-testid": "retention-definition"}) is not None
    assert soup.find("select", {"name": "store"}) is None  # managers see their store only


def test_report_for_the_owner_by_store_and_date(
    db: Database, client_for: Client, stores: tuple[int, int]
) -> None:
    _shop(db, stores)
    owner, _ = client_for("owner")
    everyone = _soup(owner.get("/bonds").text)
    total = everyone.find(attrs={"data-testid": "bonds-total"})
    assert _cells(total, "bonds-customers") == ["2", "0", "1", "0"]
    store_b = _soup(owner.get(f"/bonds?store={stores[1]}").text)
    rows = store_b.find_all(attrs={"data-testid": "bonds-row"})
    assert [r["data-rung"] for r in rows] == ["not_scored"]
    early = _soup(owner.get("/bonds?as_of=2000-01-01").text)
    assert early.find(attrs={"data-testid": "bonds-total"}) is not None
    assert owner.get("/bonds?as_of=soon").status_code == 422


def test_clerks_may_not_see_the_report(client_for: Client) -> None:
    clerk, _ = client_for("clerk")
    assert clerk.get("/bonds").status_code == 403


def test_customer_panel_page_and_fragment(
    db: Database, client_for: Client, stores: tuple[int, int]
) -> None:
    loyal, lapsed, other = _shop(db, stores)
    clerk, _ = client_for("clerk")
    soup = _soup(clerk.get(f"/customers/{loyal}/bonds").text)
    panel = soup.find(attrs={"data-testid": "bonds"})
    assert panel is not None and panel["data-count"] == "2"
    holds = {
        b["data-level"]: b["data-holds"] for b in panel.find_all(attrs={"data-testid": "bond"})
    }
    assert holds == {"financial": "true", "social": "false", "structural": "true"}
    evidence = [e.text for e in panel.find_all(attrs={"data-testid": "bond-evidence"})]
    assert len(evidence) == 2 and any("100" in e for e in evidence)
    assert any("普洱仓储服务" in e for e in evidence)
    fragment = clerk.get(f"/customers/{lapsed}/bonds", headers={"HX-Request": "true"})
    frag = _soup(fragment.text)
    assert frag.find("html") is None
    assert frag.find(attrs={"data-testid": "bonds"})["data-count"] == "0"
    assert clerk.get(f"/customers/{other}/bonds").status_code == 404
