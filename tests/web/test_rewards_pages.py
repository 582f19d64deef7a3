"""The owner's rewards catalog page and the rewards section of the customer page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from guanxi.domain.staff import Role
from guanxi.loyalty import ledger, rewards
from guanxi.loyalty.rewards import RewardDraft
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
FORM = {"kind": "goods", "name": "紫砂壶", "description": "宜兴", "points_cost": "800",
        "stock": "5", "per_customer_limit": "1", "valid_from": "", "valid_until": "",
        "coupon_campaign_id": "", "active": "1"}  # fmt: skip


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def english(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


@pytest.fixture(autouse=True)
def _accounts(accounts: dict[str, Account]) -> None:
    """Every test signs in: the accounts must exist."""


@pytest.fixture
def owner(accounts: dict[str, Account]) -> StaffMember:
    a = accounts["owner"]
    return StaffMember(a.id, a.username, Role.OWNER, None, a.username, None)


@pytest.fixture
def customer(db: Database, accounts: dict[str, Account]) -> int:
    """A customer of store A with 1,000 points."""
    cid = make_customer(db, name="换礼客", home_store_id=accounts["clerk"].store_id)
    ledger.earn(db, cid, 1000, source_type="purchase", source_id=1, expires_on=None,
                reason=None, explanation={}, idempotency_key=None)  # fmt: skip
    return cid


def _reward(db: Database, owner: StaffMember, name: str, cost: int, **kw: object) -> int:
    draft = RewardDraft("goods", name, cost, **kw)  # type: ignore[arg-type]
    return rewards.create_reward(db, owner, draft).id


# -- the catalog page ---------------------------------------------------------------------------


def test_the_owner_adds_edits_and_deactivates_a_reward(client_for: Factory, db: Database) -> None:
    client, csrf = client_for("owner")
    english(client)
    assert "nav-rewards" in client.get("/loyalty/rewards").text
    added = client.post("/loyalty/rewards", data={**FORM, "csrf_token": csrf},
                        follow_redirects=False)  # fmt: skip
    assert added.status_code == 303, added.text
    [made] = rewards.list_rewards(db)
    assert (made.name, made.points_cost, made.stock, made.per_customer_limit) == (
        "紫砂壶", 800, 5, 1,
    )  # fmt: skip
    page = soup(client.get("/loyalty/rewards?done=added").text)
    assert page.select_one("[data-testid=reward-added]") is not None
    row = page.select_one(f"[data-reward='{made.id}']")
    assert row is not None and "Available now" in row.get_text()
    edit = soup(client.get(f"/loyalty/rewards/{made.id}").text)
    assert edit.select_one("[name=points_cost]")["value"] == "800"  # type: ignore[index]
    saved = client.post(f"/loyalty/rewards/{made.id}",
                        data={**FORM, "points_cost": "600", "stock": "9", "csrf_token": csrf},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303, saved.text
    assert (rewards.get_reward(db, made.id).points_cost, rewards.get_reward(db, made.id).stock) == (
        600, 9,
    )  # fmt: skip
    gone = client.post(f"/loyalty/rewards/{made.id}/deactivate", data={"csrf_token": csrf},
                       follow_redirects=False)  # fmt: skip
    assert gone.status_code == 303
    assert not rewards.get_reward(db, made.id).active
    assert [e.action for e in audit.list_entries(db) if e.action.startswith("reward.")] == [
        rewards.REWARD_DEACTIVATED, rewards.REWARD_UPDATED, rewards.REWARD_CREATED,
    ]  # fmt: skip


def test_a_bad_form_comes_back_with_errors_next_to_fields(
    client_for: Factory, db: Database
) -> None:
    client, csrf = client_for("owner")
    english(client)
    bad = {**FORM, "name": " ", "points_cost": "0", "stock": "lots",
           "valid_from": "2026-06-30", "valid_until": "2026-06-01", "csrf_token": csrf}  # fmt: skip
    got = client.post("/loyalty/rewards", data=bad)
    assert got.status_code == 422
    page = soup(got.text)
    for name in ("name", "points_cost", "stock", "valid_until"):
        assert page.select_one(f"[data-testid=error-{name}]") is not None, name
    assert page.select_one("[name=stock]")["value"] == "lots"  # type: ignore[index]
    assert rewards.list_rewards(db) == []


@pytest.mark.parametrize("who", ["manager", "clerk"])
def test_only_the_owner_sees_the_catalog_page(client_for: Factory, who: str) -> None:
    client, csrf = client_for(who)
    assert client.get("/loyalty/rewards").status_code == 403
    assert "nav-rewards" not in client.get("/customers").text
    refused = client.post("/loyalty/rewards", data={**FORM, "csrf_token": csrf})
    assert refused.status_code == 403


# -- the customer page --------------------------------------------------------------------------


def test_a_clerk_redeems_an_affordable_reward_once_despite_a_double_submit(
    client_for: Factory, db: Database, owner: StaffMember, customer: int,
    accounts: dict[str, Account],
) -> None:  # fmt: skip
    cup = _reward(db, owner, "茶杯", 300, stock=2)
    dear = _reward(db, owner, "茶盘", 5000)
    client, _ = client_for("clerk")
    english(client)
    page = soup(client.get(f"/customers/{customer}").text)
    offers = [int(str(r["data-reward"])) for r in page.select("[data-testid=reward-offer]")]
    assert offers == [cup]  # the 5,000-point tray is out of reach
    assert dear not in offers
    form = page.select_one(f"form[action='/customers/{customer}/rewards/{cup}/redeem']")
    assert form is not None
    data = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
    first = client.post(form["action"], data=data, follow_redirects=False)  # type: ignore[arg-type]
    again = client.post(form["action"], data=data, follow_redirects=False)  # type: ignore[arg-type]
    assert (first.status_code, again.status_code) == (303, 303)
    assert ledger.balance(db, customer) == 700
    assert rewards.get_reward(db, cup).stock == 1
    [done] = rewards.customer_redemptions(db, customer)
    assert done.store_id == accounts["clerk"].store_id
    after = soup(client.get(first.headers["location"]).text)
    assert after.select_one("[data-testid=reward-redeemed]") is not None
    rows = after.select("[data-testid=reward-row]")
    assert len(rows) == 1 and "茶杯" in rows[0].get_text()
    assert after.select_one(f"[data-testid=cancel-{done.id}]") is None  # clerks cannot cancel


def test_a_refused_redemption_says_why(
    client_for: Factory, db: Database, owner: StaffMember, customer: int
) -> None:
    cup = _reward(db, owner, "茶杯", 300, stock=1)
    client, csrf = client_for("clerk")
    english(client)
    other = make_customer(db, home_store_id=None)
    ledger.earn(db, other, 500, source_type="purchase", source_id=2, expires_on=None,
                reason=None, explanation={}, idempotency_key=None)  # fmt: skip
    rewards.redeem_reward(db, other, cup, actor_id=None, idempotency_key="first")
    got = client.post(f"/customers/{customer}/rewards/{cup}/redeem",
                      data={"csrf_token": csrf, "key": "a" * 32})  # fmt: skip
    assert got.status_code == 409
    error = soup(got.text).select_one("[data-testid=reward-error]")
    assert error is not None and "out of stock" in error.get_text()
    assert ledger.balance(db, customer) == 1000


def test_a_manager_cancels_a_redemption(
    client_for: Factory, db: Database, owner: StaffMember, customer: int
) -> None:
    cup = _reward(db, owner, "茶杯", 300, stock=3)
    done = rewards.redeem_reward(db, customer, cup, actor_id=None, idempotency_key="r")
    client, csrf = client_for("manager")
    english(client)
    page = soup(client.get(f"/customers/{customer}").text)
    assert page.select_one(f"[data-testid=cancel-{done.id}]") is not None
    url = f"/customers/{customer}/rewards/redemptions/{done.id}/cancel"
    assert client.post(url, data={"csrf_token": csrf, "reason": ""}).status_code == 422
    ok = client.post(url, data={"csrf_token": csrf, "reason": "顾客退回"}, follow_redirects=False)
    assert ok.status_code == 303
    assert ledger.balance(db, customer) == 1000
    assert rewards.get_reward(db, cup).stock == 3
    status = soup(client.get(f"/customers/{customer}").text).select("[data-testid=reward-row]")
    assert "Cancelled" in status[0].get_text()
    clerk, clerk_csrf = client_for("clerk")
    assert clerk.post(url, data={"csrf_token": clerk_csrf, "reason": "x"}).status_code == 403


def test_no_section_without_rewards(client_for: Factory, customer: int) -> None:
    client, _ = client_for("clerk")
    page = soup(client.get(f"/customers/{customer}").text)
    assert page.select_one("[data-testid=rewards]") is None
