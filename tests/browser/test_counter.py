"""The counter screen in a real browser: a clerk finds a customer by phone tail, records a
purchase, redeems points and a reward, tops up the stored-value card and pays by card."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from guanxi.domain.staff import Role
from guanxi.loyalty import ledger, rewards
from guanxi.loyalty import stored_value as sv
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Purchase, RewardRedemption, Staff, StoredValueEntry
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ui import sign_in
from tests.factories import make_customer

CLERK = "clerk1"
REWARD = "柜台测试礼品"


def number(text: str) -> Decimal:
    """'CN¥1,100.00' -> 1100.00, '+300 积分' -> 300."""
    found = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert found is not None, f"no number in {text!r}"
    return Decimal(found.group().replace(",", ""))


def shop_db(path: Path) -> Database:
    """The served demo shop's database (the ``server_db`` fixture names it)."""
    return Database(f"sqlite:///{path}")


def seed(db: Database) -> tuple[int, str, int]:
    """A customer of the clerk's store with a phone tail nobody else has, and a 1-point reward:
    (customer id, phone tail, reward id)."""
    with db.read() as s:
        clerk = s.execute(select(Staff).where(Staff.username == CLERK)).scalar_one()
        owner = s.execute(select(Staff).where(Staff.role == "owner")).scalars().first()
        tails = {p[-4:] for p in s.execute(select(Customer.phone)).scalars() if p}
    tail = next(f"{n:04d}" for n in range(7000, 10000) if f"{n:04d}" not in tails)
    cid = make_customer(db, name="柜台测", phone=f"+8613912{tail}", home_store_id=clerk.store_id)
    assert owner is not None
    boss = StaffMember(owner.id, owner.name, Role.OWNER, None, None, None)
    reward = rewards.create_reward(db, boss, rewards.RewardDraft("goods", REWARD, 1)).id
    return cid, tail, reward


def test_a_clerk_serves_a_customer_at_the_counter(page: Any, server: str, server_db: Path) -> None:
    db = shop_db(server_db)
    cid, tail, reward = seed(db)
    sign_in(page, server, CLERK)
    page.goto(f"{server}/counter")
    page.fill("#counter-q", tail)
    page.press("#counter-q", "Enter")
    page.wait_for_url(f"{server}/counter/{cid}")  # one match: straight to the customer
    assert "****" in page.inner_text("[data-testid=counter-phone]")

    page.fill("#sale-receipt", "BR-1")
    page.fill("#sale-amount", "300")
    page.click("[data-testid=sale-submit]")
    page.wait_for_selector("[data-testid=sale-done]")
    earned = int(number(page.inner_text("[data-testid=sale-points]")))
    assert earned >= 2
    assert page.locator("[data-testid=sale-steps] li").count() >= 1  # how they were computed
    assert int(number(page.inner_text("[data-testid=counter-balance]"))) == earned

    page.fill("#redeem-points", "1")
    page.fill("#redeem-reason", "小礼物")
    page.click("[data-testid=redeem-submit]")
    page.wait_for_selector("[data-testid=redeem-done]")
    assert int(number(page.inner_text("[data-testid=counter-balance]"))) == earned - 1

    page.click(f"[data-testid=reward-offer][data-reward='{reward}'] button")
    page.wait_for_selector("[data-testid=reward-done]")
    assert REWARD in page.inner_text("[data-testid=reward-done]")
    assert int(number(page.inner_text("[data-testid=counter-balance]"))) == earned - 2

    bonus, _ = sv.bonus_for(sv.rules(db), Decimal(1000))
    page.fill("#top-up-amount", "1000")
    page.click("[data-testid=card-top-up]")
    page.wait_for_selector("[data-testid=card-done]")
    assert number(page.inner_text("[data-testid=card-total]")) == 1000 + bonus

    page.fill("#pay-amount", "100")
    page.fill("#pay-receipt", "BR-1")
    page.click("[data-testid=card-pay]")
    page.wait_for_selector("[data-testid=card-done]:has-text('BR-1')")
    assert number(page.inner_text("[data-testid=card-total]")) == 900 + bonus
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "counter-zh.png"), full_page=True)
    page.click("[data-testid=lang-en]")
    page.wait_for_selector("html[lang^=en] [data-testid=counter-card]")
    page.screenshot(path=str(ARTIFACTS / "counter-en.png"), full_page=True)
    page.click("[data-testid=lang-zh_CN]")  # the clerk's language is remembered: put it back
    page.wait_for_selector("html[lang=zh-CN] [data-testid=counter-card]")

    assert ledger.balance(db, cid) == earned - 2
    assert sv.balance(db, cid).total == 900 + bonus
    with db.read() as s:
        sales = s.execute(select(Purchase.external_order_id).where(Purchase.customer_id == cid))
        assert sales.scalars().all() == ["BR-1"]
        taken = s.execute(select(RewardRedemption.reward_id)
                          .where(RewardRedemption.customer_id == cid)).scalars().all()  # fmt: skip
        assert taken == [reward]
        card = s.execute(select(StoredValueEntry.kind).where(StoredValueEntry.customer_id == cid)
                         .order_by(StoredValueEntry.id)).scalars().all()  # fmt: skip
        assert card == ["top_up", "spend"]
