"""The owner's member tiers page (/loyalty/tiers) and the tier section of a customer's page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.loyalty.accrual import Programme, programme, save_programme
from guanxi.loyalty.rules import EarningProgram
from guanxi.loyalty.tiers import Basis, Tier, basis_of, evaluate_downgrades
from guanxi.services import audit
from guanxi.services.purchases import CustomerRef, LineInput, PurchaseInput, record_purchase
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]


def english(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def text_of(page: BeautifulSoup, testid: str) -> str:
    found = page.select_one(f"[data-testid={testid}]")
    assert found is not None, f"no {testid}"
    return found.get_text(" ", strip=True)


def row(n: int, key: str, name: str, spend: str, **more: str) -> dict[str, str]:
    fields = {"key": key, "name": name, "min_spend": spend, **more}
    return {f"t{n}_{k}": v for k, v in fields.items()}


LADDER = {
    "rows": "4",
    **row(0, "normal", "普通会员", "0"),
    # typed out of order: saved ordered by threshold
    **row(1, "gold", "金卡", "5,000", multiplier="2", discount="10", grace_days="90",
          benefits="免费包装\n生日礼", event="1"),
    **row(2, "silver", "银卡", "1000", multiplier="1.5", discount="5"),
    **row(3, "", "", ""),  # an empty row is dropped
}  # fmt: skip


def as_posted(page: BeautifulSoup) -> dict[str, str]:
    """The tiers form's fields as the browser would send them."""
    data: dict[str, str] = {}
    for field in page.select("[data-testid=tiers-form] :is(input, textarea)"):
        name = str(field.get("name"))
        if field.name == "textarea":
            data[name] = field.get_text()
        elif field.get("type") not in ("checkbox", "radio") or field.has_attr("checked"):
            data[name] = str(field.get("value", ""))
    return data


def test_owner_edits_the_tiers_audited(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    page = soup(english(client).get("/loyalty/tiers").text)
    assert len(page.select("[data-testid=tier-rows] tbody tr")) == 2  # no tiers: 2 empty rows
    saved = client.post("/loyalty/tiers", data={"csrf_token": csrf, **LADDER},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == "/loyalty/tiers?saved=1"
    with db.read() as s:
        prog = programme(s)
    assert prog.tiers == (
        Tier("normal", "普通会员", Decimal(0)),
        Tier("silver", "银卡", Decimal(1000), Decimal("1.5"), Decimal("0.05")),
        Tier("gold", "金卡", Decimal(5000), Decimal(2), Decimal("0.1"), ("免费包装", "生日礼"),
             True, 90),
    )  # fmt: skip
    with db.read() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == audit.Action.PROGRAMME_CHANGED)
        ).scalar_one()
    assert entry.detail["before"] is None
    assert [t["key"] for t in entry.detail["after"]["tiers"]] == ["normal", "silver", "gold"]
    page = soup(english(client).get("/loyalty/tiers?saved=1").text)
    assert page.select_one("[data-testid=tiers-saved]") is not None
    # The page as shown saves the same ladder: nothing drifts on a round trip.
    again = client.post("/loyalty/tiers", data=as_posted(page), follow_redirects=False)
    assert again.status_code == 303
    with db.read() as s:
        assert programme(s).tiers == prog.tiers


def test_owner_chooses_the_points_basis_audited(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    page = soup(english(client).get("/loyalty/tiers").text)
    checked = page.select_one("[data-testid=tier-basis] input[checked]")
    assert checked is not None and checked["value"] == "spend"  # the default
    saved = client.post("/loyalty/tiers", data={"csrf_token": csrf, "basis": "points", **LADDER},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    with db.read() as s:
        prog = programme(s)
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == audit.Action.PROGRAMME_CHANGED)
        ).scalar_one()
    assert prog.tiers is not None and basis_of(prog.tiers) is Basis.POINTS
    assert [t.min_spend for t in prog.tiers] == [0, 1000, 5000]  # now points
    assert entry.detail["after"]["tiers"]["basis"] == "points"
    assert [t["key"] for t in entry.detail["after"]["tiers"]["tiers"]] == [
        "normal", "silver", "gold"]  # fmt: skip
    page = soup(english(client).get("/loyalty/tiers").text)
    checked = page.select_one("[data-testid=tier-basis] input[checked]")
    assert checked is not None and checked["value"] == "points"
    assert "From 12-month points" in text_of(page, "tier-rows")
    # The page as shown saves the same ladder, basis included.
    again = client.post("/loyalty/tiers", data=as_posted(page), follow_redirects=False)
    assert again.status_code == 303
    with db.read() as s:
        assert programme(s).tiers == prog.tiers
    # Points thresholds are whole; an unknown basis is refused next to the choice.
    bad = {"csrf_token": csrf, **LADDER, "basis": "points", **row(2, "silver", "银卡", "999.5")}
    response = english(client).post("/loyalty/tiers", data=bad)
    assert response.status_code == 422
    assert "whole points" in text_of(soup(response.text), "error-t2_min_spend")
    response = english(client).post("/loyalty/tiers", data={**bad, "basis": "visits"})
    assert response.status_code == 422 and "error-basis" in response.text


def test_saving_tiers_keeps_the_earning_rules(db: Database, client_for: Factory,
                                              accounts: dict[str, Account]) -> None:  # fmt: skip
    from guanxi.domain.staff import Role
    from guanxi.services.staff import StaffMember

    owner = StaffMember(accounts["owner"].id, "owner", Role.OWNER, None, None, None)
    save_programme(db, owner, Programme(EarningProgram(points_per_yuan=Decimal(2)), 12))
    client, csrf = client_for("owner")
    assert client.post("/loyalty/tiers", data={"csrf_token": csrf, **LADDER},
                       follow_redirects=False).status_code == 303  # fmt: skip
    with db.read() as s:
        prog = programme(s)
    assert prog.rules.points_per_yuan == 2 and prog.points_valid_months == 12
    assert prog.tiers is not None and len(prog.tiers) == 3
    # Every row emptied: tiers off.
    off = {"csrf_token": csrf, "rows": "1", **row(0, "", "", "")}
    assert client.post("/loyalty/tiers", data=off, follow_redirects=False).status_code == 303
    with db.read() as s:
        assert programme(s).tiers is None


def test_errors_stand_next_to_the_fields_with_everything_kept(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    bad = {
        "csrf_token": csrf,
        "rows": "4",
        **row(0, "normal", "普通会员", "100"),  # the lowest must start at 0
        **row(1, "silver level", "", "abc", multiplier="-1", discount="120", grace_days="x"),
        **row(2, "normal", "重复", "200"),  # the key is taken
        **row(3, "gold", "金卡", "100"),  # the same threshold as row 0
    }
    response = english(client).post("/loyalty/tiers", data=bad)
    assert response.status_code == 422
    page = soup(response.text)
    assert page.select_one("[data-testid=tiers-error]") is not None
    for name in ("t0_min_spend", "t1_key", "t1_name", "t1_min_spend", "t1_multiplier",
                 "t1_discount", "t1_grace_days", "t2_key", "t3_min_spend"):  # fmt: skip
        assert page.select_one(f"[data-testid=error-{name}]") is not None, name
    assert "must start at 0" in text_of(page, "error-t0_min_spend")
    kept = page.select_one("[name=t1_key]")
    assert kept is not None and kept["value"] == "silver level"
    assert kept.get("aria-invalid") == "true"
    with db.read() as s:
        assert programme(s).tiers is None
        changed = audit.Action.PROGRAMME_CHANGED
        assert s.execute(select(AuditEntry).where(AuditEntry.action == changed)).first() is None


@pytest.mark.parametrize("who", ["manager", "clerk"])
def test_only_the_owner_manages_tiers(client_for: Factory, accounts: dict[str, Account],
                                      who: str) -> None:  # fmt: skip
    client, csrf = client_for(who)
    assert client.get("/loyalty/tiers").status_code == 403
    assert client.post("/loyalty/tiers", data={"csrf_token": csrf, **LADDER}).status_code == 403
    assert 'href="/loyalty/tiers"' not in client.get("/customers").text


def _buy(db: Database, store: int, customer: int, order: str, amount: str, at: datetime) -> None:
    record_purchase(db, PurchaseInput(
        external_order_id=order, customer=CustomerRef(id=customer), purchased_at=at,
        store_id=store, lines=(LineInput(sku="tea", amount=Decimal(amount)),),
    ), store_scope=None)  # fmt: skip


def test_customer_page_shows_tier_progress_and_history(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    client.post("/loyalty/tiers", data={"csrf_token": csrf, **LADDER})
    store = accounts["clerk"].store_id
    assert store is not None
    cid = make_customer(db, name="钱多", home_store_id=store)
    now = datetime.now(UTC)
    _buy(db, store, cid, "o1", "300", now)
    page = soup(english(client).get(f"/customers/{cid}").text)
    assert text_of(page, "tier-name").startswith("普通会员")
    assert "¥700.00 more to reach 银卡" in text_of(page, "tier-next")
    _buy(db, store, cid, "o2", "800", now)
    page = soup(english(client).get(f"/customers/{cid}").text)
    assert text_of(page, "tier-name") == "银卡"
    assert "¥3,900.00 more to reach 金卡" in text_of(page, "tier-next")
    assert "Points × 1.5" in text_of(page, "tier-benefits")
    rows = [[td.get_text(" ", strip=True) for td in r.find_all("td")]
            for r in page.select("[data-testid=tier-row]")]  # fmt: skip
    assert [r[1:4] for r in rows] == [
        ["Upgrade", "普通会员", "银卡"],
        ["First tier", "", "普通会员"],
    ]
    # A downgrade by the periodic evaluation shows too (silver keeps the default 30 days).
    with db.write() as s:
        from guanxi.storage.models import Purchase

        for p in s.execute(select(Purchase)).scalars():
            p.purchased_at = datetime(2020, 1, 1, tzinfo=UTC)
    evaluate_downgrades(db, date.today().replace(year=date.today().year + 1))
    page = soup(english(client).get(f"/customers/{cid}").text)
    assert text_of(page, "tier-name").startswith("普通会员")
    assert page.select("[data-testid=tier-row]")[0].find_all("td")[1].get_text() == "Downgrade"


def test_customer_page_shows_points_progress(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    client.post("/loyalty/tiers", data={"csrf_token": csrf, "basis": "points", **LADDER})
    store = accounts["clerk"].store_id
    assert store is not None
    cid = make_customer(db, name="钱多", home_store_id=store)
    _buy(db, store, cid, "o1", "300", datetime.now(UTC))  # 300 points
    page = soup(english(client).get(f"/customers/{cid}").text)
    assert text_of(page, "tier-points") == "300"
    assert text_of(page, "tier-spend").endswith("¥300.00")
    assert "700 more points to reach 银卡" in text_of(page, "tier-next")
    bar = page.select_one("[data-testid=tier-next] progress")
    assert bar is not None and bar["value"] == "30"


def test_no_tier_section_without_tiers(db: Database, client_for: Factory,
                                       accounts: dict[str, Account]) -> None:  # fmt: skip
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    client, _ = client_for("clerk")
    assert soup(client.get(f"/customers/{cid}").text).select_one("[data-testid=tier]") is None
