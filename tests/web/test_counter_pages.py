"""The counter screen (收银台): find by phone tail with masked phones, record a purchase once,
redeem once, refuse overspending, keep clerks to their store's customers; redeem a reward, check
and use a coupon, pay by and top up the stored-value card, each once per form."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.domain.staff import Role
from guanxi.loyalty import coupons, ledger, rewards
from guanxi.loyalty import stored_value as sv
from guanxi.loyalty.accrual import Programme, save_programme
from guanxi.loyalty.rules import EarningProgram
from guanxi.loyalty.tiers import Tier
from guanxi.services.counter import form_time
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    CouponRedemption,
    PointsEntry,
    Product,
    Purchase,
    RewardRedemption,
    StoredValueEntry,
)
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
    page = soup(client.get(f"/counter/{cid}").text)  # the form says when it was opened
    opened = page.select_one('[data-testid="sale-form"] input[name="at"]')
    assert opened is not None and form_time(str(opened["value"])) is not None
    sale = {"csrf_token": csrf, "receipt": "R-1001", "amount": "1,200.50",
            "at": str(opened["value"])}  # fmt: skip
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


def test_a_receipt_recorded_before_from_another_form_is_refused(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    client, csrf = client_for("clerk")
    cid = shop["wang"]
    earlier = (datetime.now(UTC) - timedelta(hours=3)).isoformat(timespec="seconds")
    data = {"csrf_token": csrf, "receipt": "R-8", "amount": "50", "at": earlier}
    assert client.post(f"/counter/{cid}/purchase", data=data).status_code == 200
    # the same receipt number and amount typed again later, in a new form: not a double send
    again = english(client).post(f"/counter/{cid}/purchase", data={**data, "at": ""})
    assert again.status_code == 422
    assert "recorded before" in text_of(soup(again.text), "error-receipt")
    assert ledger.balance(db, cid) == 50


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


# --- rewards, coupons, stored value --------------------------------------------------------------


def owner_of(accounts: dict[str, Account]) -> StaffMember:
    return StaffMember(accounts["owner"].id, "owner", Role.OWNER, None, None, None)


def earn(db: Database, cid: int, points: int) -> None:
    ledger.earn(db, cid, points, source_type="purchase", source_id=1, expires_on=None,
                reason="p", explanation={}, idempotency_key=None)  # fmt: skip


def key_of(html: str, form: str) -> str:
    field = soup(html).select_one(f"{form} input[name=key]")
    assert field is not None, form
    return str(field["value"])


def post_twice(client: TestClient, url: str, data: dict[str, str]) -> str:
    """Send a form twice; both redirect to the same page, whose location is returned."""
    first = client.post(url, data=data, follow_redirects=False)
    second = client.post(url, data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303, second.text
    assert first.headers["location"] == second.headers["location"]
    return str(first.headers["location"])


def make_reward(
    db: Database, accounts: dict[str, Account], cost: int, stock: int | None = None,
    limit: int | None = None,
) -> int:  # fmt: skip
    draft = rewards.RewardDraft("goods", f"茶杯{cost}", cost, stock=stock, per_customer_limit=limit)
    return rewards.create_reward(db, owner_of(accounts), draft).id


def test_a_reward_redeemed_twice_is_redeemed_once(
    db: Database, client_for: Factory, shop: dict[str, int], accounts: dict[str, Account]
) -> None:
    cid = shop["wang"]
    earn(db, cid, 100)
    cup = make_reward(db, accounts, 60, stock=5)
    make_reward(db, accounts, 500)  # more than the balance: not offered
    client, csrf = client_for("clerk")
    page = soup(english(client).get(f"/counter/{cid}").text)
    offers = page.select("[data-testid=reward-offer]")
    assert [int(str(o["data-reward"])) for o in offers] == [cup]
    key = key_of(str(page), f"[data-reward='{cup}']")
    url = post_twice(client, f"/counter/{cid}/reward/{cup}", {"csrf_token": csrf, "key": key})
    assert re.fullmatch(rf"/counter/{cid}\?reward=\d+", url)
    done = soup(english(client).get(url).text)
    assert "Reward redeemed: 茶杯60" in text_of(done, "reward-done")
    assert "balance after: 40" in text_of(done, "reward-done")
    assert text_of(done, "counter-balance") == "40"
    assert ledger.balance(db, cid) == 40
    assert rewards.get_reward(db, cup).stock == 4
    with db.read() as s:
        rows = s.execute(select(RewardRedemption.actor_staff_id)).scalars().all()
        assert rows == [accounts["clerk"].id]


def test_reward_refusals_are_said_in_words(
    db: Database, client_for: Factory, shop: dict[str, int], accounts: dict[str, Account]
) -> None:
    cid = shop["wang"]
    earn(db, cid, 100)
    gone = make_reward(db, accounts, 10, stock=0)
    once = make_reward(db, accounts, 20, limit=1)
    dear = make_reward(db, accounts, 300)
    client, csrf = client_for("clerk")
    english(client)

    def refusal(reward: int, key: str) -> str:
        data = {"csrf_token": csrf, "key": key}
        response = client.post(f"/counter/{cid}/reward/{reward}", data=data)
        assert response.status_code == 422
        return text_of(soup(response.text), "error-reward")

    assert refusal(gone, "1" * 32) == "This reward is out of stock."
    assert refusal(dear, "2" * 32) == (
        "Not enough points: the balance is 100, the reward costs 300."
    )
    client.post(f"/counter/{cid}/reward/{once}", data={"csrf_token": csrf, "key": "3" * 32})
    assert "as often as allowed (1)" in refusal(once, "4" * 32)
    assert ledger.balance(db, cid) == 80


def campaign(
    db: Database, accounts: dict[str, Account], *, min_spend: str | None = None,
    uses: int | None = 1,
) -> int:  # fmt: skip
    draft = coupons.CampaignDraft(
        "立减20", coupons.Kind.FIXED, Decimal(20),
        min_spend=None if min_spend is None else Decimal(min_spend), uses_per_code=uses,
    )  # fmt: skip
    return coupons.create_campaign(db, owner_of(accounts), draft).id


def test_a_coupon_is_checked_then_used_once(
    db: Database, client_for: Factory, shop: dict[str, int], accounts: dict[str, Account]
) -> None:
    cid = shop["wang"]
    code = coupons.issue_to_customer(db, owner_of(accounts), campaign(db, accounts), cid).code
    client, csrf = client_for("clerk")
    english(client)
    listed = soup(client.get(f"/counter/{cid}").text)
    assert code in text_of(listed, "my-coupons")
    check = {"coupon_code": code.lower(), "coupon_amount": "120", "coupon_receipt": "C-1"}
    checked = soup(client.get(f"/counter/{cid}", params=check).text)
    assert "¥20.00 off" in text_of(checked, "coupon-verdict")
    form = checked.select_one("[data-testid=coupon-form]")
    assert form is not None and form["method"] == "post"
    use = {str(i["name"]): str(i.get("value", "")) for i in form.select("input")}
    assert use["key"] and use["coupon_receipt"] == "C-1"
    url = post_twice(client, f"/counter/{cid}/coupon", use)
    assert re.fullmatch(rf"/counter/{cid}\?coupon_used=\d+", url)
    assert "¥20.00 off receipt C-1" in text_of(soup(client.get(url).text), "coupon-done")
    with db.read() as s:
        used = s.execute(select(CouponRedemption)).scalars().all()
        assert [(u.order_ref, u.discount, u.customer_id) for u in used] == [
            ("C-1", Decimal("20.00"), cid)
        ]
    again = client.post(f"/counter/{cid}/coupon", data={**use, "key": "5" * 32})
    assert again.status_code == 422
    assert (
        text_of(soup(again.text), "error-coupon")
        == "This coupon was already used for this receipt."
    )
    other = client.post(f"/counter/{cid}/coupon",
                        data={**use, "key": "6" * 32, "coupon_receipt": "C-2"})  # fmt: skip
    assert text_of(soup(other.text), "error-coupon") == "This coupon has been used up."
    after = soup(client.get(f"/counter/{cid}").text)
    assert after.select_one("[data-testid=my-coupons]") is None  # used: no longer listed


def test_coupon_reasons_are_said_in_words(
    db: Database, client_for: Factory, shop: dict[str, int], accounts: dict[str, Account]
) -> None:
    owner = owner_of(accounts)
    mine = coupons.issue_to_customer(db, owner, campaign(db, accounts, min_spend="100"),
                                     shop["wang"]).code  # fmt: skip
    client, csrf = client_for("clerk")
    english(client)

    def verdict(cid: int, code: str, amount: str) -> str:
        params = {"coupon_code": code, "coupon_amount": amount}
        return text_of(soup(client.get(f"/counter/{cid}", params=params).text), "coupon-verdict")

    assert verdict(shop["wang"], mine, "80") == (
        "Spend 20.00 more to reach the minimum of 100.00 (qualifying now: 80.00)."
    )
    assert verdict(shop["li"], mine, "200") == "This coupon belongs to another customer."
    assert verdict(shop["wang"], "ZZZZ-ZZZZ-ZZZZ", "200").startswith("No coupon has this code")
    use = {"csrf_token": csrf, "coupon_code": mine, "coupon_amount": "80",
           "coupon_receipt": "C-9", "key": "7" * 32}  # fmt: skip
    refused = client.post(f"/counter/{shop['wang']}/coupon", data=use)
    assert refused.status_code == 422
    assert text_of(soup(refused.text), "error-coupon").startswith("Spend 20.00 more")
    missing = client.post(f"/counter/{shop['wang']}/coupon",
                          data={**use, "coupon_receipt": "", "coupon_amount": "x"})  # fmt: skip
    page = soup(missing.text)
    assert page.select_one("[data-testid=error-coupon_receipt]") is not None
    assert page.select_one("[data-testid=error-coupon_amount]") is not None
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 0


def test_top_up_and_pay_by_card_each_once(
    db: Database, client_for: Factory, shop: dict[str, int], accounts: dict[str, Account]
) -> None:
    sv.save_rules(db, owner_of(accounts), [sv.BonusRule(Decimal(1000), Decimal(100))])
    cid = shop["li"]
    client, csrf = client_for("clerk")
    english(client)
    html = client.get(f"/counter/{cid}").text
    assert text_of(soup(html), "card-total") == "CN¥0.00"
    top = {"csrf_token": csrf, "amount": "1,000", "payment_method": "wechat_pay",
           "key": key_of(html, "[data-testid=card-top-up-form]")}  # fmt: skip
    url = post_twice(client, f"/counter/{cid}/card/top-up", top)
    page = soup(client.get(url).text)
    assert "Card topped up with CN¥1,000.00" in text_of(page, "card-done")
    assert text_of(page, "card-done-bonus") == "Bonus given: CN¥100.00"
    shown = [text_of(page, f"card-{part}") for part in ("paid", "bonus", "total")]
    assert shown == ["CN¥1,000.00", "CN¥100.00", "CN¥1,100.00"]
    pay = {"csrf_token": csrf, "amount": "550", "receipt": "S-1",
           "key": key_of(str(page), "[data-testid=card-pay-form]")}  # fmt: skip
    url = post_twice(client, f"/counter/{cid}/card/pay", pay)
    paid = soup(client.get(url).text)
    assert "Paid CN¥550.00 by card for receipt S-1" in text_of(paid, "card-done")
    assert text_of(paid, "card-total") == "CN¥550.00"
    assert sv.balance(db, cid) == sv.Balance(Decimal("500.00"), Decimal("50.00"))
    with db.read() as s:
        kinds = s.execute(select(StoredValueEntry.kind, StoredValueEntry.reference,
                                 StoredValueEntry.actor_staff_id)
                          .order_by(StoredValueEntry.id)).all()  # fmt: skip
    clerk = accounts["clerk"].id
    assert [tuple(k) for k in kinds] == [("top_up", None, clerk), ("spend", "S-1", clerk)]
    assert sv.check_balances(db) == []


def test_paying_more_than_the_card_holds_says_so(
    db: Database, client_for: Factory, shop: dict[str, int]
) -> None:
    cid = shop["li"]
    sv.top_up(db, cid, Decimal(30), payment_method="cash", idempotency_key="seed")
    client, csrf = client_for("clerk")
    english(client)
    pay = {"csrf_token": csrf, "amount": "50", "receipt": "S-2", "key": "8" * 32}
    response = client.post(f"/counter/{cid}/card/pay", data=pay)
    assert response.status_code == 422
    page = soup(response.text)
    assert text_of(page, "error-pay_amount") == "Not enough on the card: it holds CN¥30.00."
    field = page.select_one("#pay-amount")
    assert field is not None and field["value"] == "50"
    wrong = {"csrf_token": csrf, "amount": "-1", "payment_method": "gold"}
    bad = client.post(f"/counter/{cid}/card/top-up", data=wrong)
    assert bad.status_code == 422
    assert soup(bad.text).select_one("[data-testid=error-top_up_amount]") is not None
    assert soup(bad.text).select_one("[data-testid=error-top_up_method]") is not None
    assert sv.balance(db, cid).total == Decimal(30)


def test_clerks_cannot_use_money_actions_on_another_stores_customer(
    db: Database, client_for: Factory, shop: dict[str, int], accounts: dict[str, Account]
) -> None:
    cid = shop["zhao"]
    earn(db, cid, 100)
    sv.top_up(db, cid, Decimal(100), payment_method="cash", idempotency_key="seed-b")
    cup = make_reward(db, accounts, 10)
    code = coupons.issue_to_customer(db, owner_of(accounts), campaign(db, accounts), cid).code
    client, csrf = client_for("clerk")
    posts = {
        f"/counter/{cid}/reward/{cup}": {"key": "9" * 32},
        f"/counter/{cid}/coupon": {"coupon_code": code, "coupon_amount": "50",
                                   "coupon_receipt": "B-1", "key": "a" * 32},
        f"/counter/{cid}/card/pay": {"amount": "10", "receipt": "B-1", "key": "b" * 32},
        f"/counter/{cid}/card/top-up": {"amount": "10", "payment_method": "cash", "key": "c" * 32},
    }  # fmt: skip
    for url, data in posts.items():
        assert client.post(url, data={"csrf_token": csrf, **data}).status_code == 404, url
    assert client.get(f"/counter/{cid}", params={"coupon_code": code}).status_code == 404
    assert ledger.balance(db, cid) == 100
    assert sv.balance(db, cid).total == Decimal(100)
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(RewardRedemption)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 0
