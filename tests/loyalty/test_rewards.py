"""The rewards catalog and redemption: stock, limits, validity, idempotency, cancellation, and
no oversell or overspend under concurrency (threads on separate pooled connections)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.domain.staff import Role
from guanxi.errors import InvalidInput, NotAllowed, NotFound
from guanxi.loyalty import coupons, ledger, rewards
from guanxi.loyalty.ledger import IdempotencyConflict, InsufficientPoints, Kind
from guanxi.loyalty.rewards import (
    LimitReached,
    OutOfStock,
    Redemption,
    RewardDraft,
    RewardNotAvailable,
)
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import PointsEntry, RewardRedemption, Store
from tests.factories import make_customer
from tests.loyalty.test_ledger_concurrency import _in_threads

TODAY = date(2026, 6, 15)


def campaign(db: Database, owner: StaffMember) -> int:
    """A ¥20-off coupon campaign for coupon rewards to hand out."""
    draft = coupons.CampaignDraft("满100减20", coupons.Kind.FIXED, Decimal(20),
                                  min_spend=Decimal(100))  # fmt: skip
    return coupons.create_campaign(db, owner, draft).id


def _earn(db: Database, customer: int, points: int) -> None:
    ledger.earn(
        db, customer, points, source_type="purchase", source_id=1, expires_on=None, reason=None,
        explanation={}, idempotency_key=None,
    )  # fmt: skip


def _reward(db: Database, owner: StaffMember, **fields: object) -> int:
    values: dict[str, object] = {"kind": "goods", "name": "紫砂杯", "points_cost": 100}
    values.update(fields)
    return rewards.create_reward(db, owner, RewardDraft(**values)).id  # type: ignore[arg-type]


def _redeem(db: Database, customer: int, reward: int, key: str) -> Redemption:
    return rewards.redeem_reward(
        db, customer, reward, actor_id=None, idempotency_key=key, as_of=TODAY
    )


def _rows(db: Database, reward: int) -> int:
    with db.read() as s:
        found = s.scalar(
            select(func.count()).where(
                RewardRedemption.reward_id == reward, RewardRedemption.status == "redeemed"
            )
        )
        return int(found or 0)


@pytest.fixture
def owner(staff: dict[Role, StaffMember]) -> StaffMember:
    return staff[Role.OWNER]


# -- the catalog --------------------------------------------------------------------------------


def test_the_owner_creates_updates_and_deactivates_rewards_audited(
    db: Database, owner: StaffMember
) -> None:
    ticket = campaign(db, owner)
    made = rewards.create_reward(
        db, owner, RewardDraft("coupon", "  满100减20  ", 300, stock=5, coupon_campaign_id=ticket)
    )
    assert (made.name, made.kind, made.stock, made.coupon_campaign_id) == (
        "满100减20", "coupon", 5, ticket,
    )  # fmt: skip
    assert made.available
    changed = rewards.update_reward(
        db, owner, made.id,
        RewardDraft("coupon", "满100减20", 250, stock=8, coupon_campaign_id=ticket),
    )  # fmt: skip
    assert (changed.points_cost, changed.stock) == (250, 8)
    gone = rewards.deactivate_reward(db, owner, made.id)
    assert (gone.active, gone.unavailable) == (False, "inactive")
    actions = [e.action for e in audit.list_entries(db) if e.action.startswith("reward.")]
    assert actions == [rewards.REWARD_DEACTIVATED, rewards.REWARD_UPDATED, rewards.REWARD_CREATED]
    update = audit.list_entries(db, action=rewards.REWARD_UPDATED)[0]
    assert update.detail["changed"] == {"points_cost": [300, 250], "stock": [5, 8]}


def test_only_the_owner_edits_the_catalog(db: Database, staff: dict[Role, StaffMember]) -> None:
    for role in (Role.MANAGER, Role.CLERK):
        with pytest.raises(NotAllowed):
            rewards.create_reward(db, staff[role], RewardDraft("goods", "茶", 10))
    assert rewards.list_rewards(db) == []


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (RewardDraft("gift", "x", 10), "kind must be one of"),
        (RewardDraft("goods", " ", 10), "needs a name"),
        (RewardDraft("goods", "x", 0), "points_cost"),
        (RewardDraft("goods", "x", 10, stock=-1), "stock"),
        (RewardDraft("goods", "x", 10, per_customer_limit=0), "per_customer_limit"),
        (RewardDraft("goods", "x", 10, valid_from=TODAY, valid_until=TODAY - timedelta(1)),
         "before valid_from"),
    ],
)  # fmt: skip
def test_bad_drafts_are_refused(
    db: Database, owner: StaffMember, draft: RewardDraft, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        rewards.create_reward(db, owner, draft)


def test_a_coupon_campaign_is_kept_only_for_coupons(db: Database, owner: StaffMember) -> None:
    made = rewards.create_reward(db, owner, RewardDraft("goods", "杯", 10, coupon_campaign_id=3))
    assert made.coupon_campaign_id is None


def test_the_catalog_says_what_is_available_on_a_day(db: Database, owner: StaffMember) -> None:
    a = _reward(db, owner, name="a", points_cost=10)
    b = _reward(db, owner, name="b", points_cost=20, valid_from=TODAY + timedelta(1))
    c = _reward(db, owner, name="c", points_cost=30, valid_until=TODAY - timedelta(1))
    d = _reward(db, owner, name="d", points_cost=40, stock=0)
    e = _reward(db, owner, name="e", points_cost=50, valid_from=TODAY, valid_until=TODAY)
    shown = {r.id: r.unavailable for r in rewards.list_rewards(db, as_of=TODAY)}
    assert shown == {a: None, b: "not_yet", c: "ended", d: "stock", e: None}


# -- redeeming ----------------------------------------------------------------------------------


def test_a_redemption_spends_points_takes_stock_and_records_the_row(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 250)
    reward = _reward(db, owner, stock=3)
    done = rewards.redeem_reward(db, customer, reward, actor_id=owner.id, idempotency_key="k1")
    assert (done.points, done.balance, done.status, done.replayed) == (100, 150, "redeemed", False)
    assert rewards.get_reward(db, reward).stock == 2
    assert ledger.balance(db, customer) == 150
    entry = ledger.history(db, customer)[0]
    assert (entry.id, entry.kind, entry.points) == (done.points_entry_id, Kind.REDEEM, -100)
    assert (entry.source_type, entry.source_id, entry.reason) == (
        "redemption", f"reward:{reward}", "紫砂杯",
    )  # fmt: skip
    assert [r.id for r in rewards.customer_redemptions(db, customer)] == [done.id]
    assert rewards.customer_counts(db, customer) == {reward: 1}


def test_a_retry_with_the_same_key_redeems_once(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 1000)
    reward = _reward(db, owner, stock=5)
    first = _redeem(db, customer, reward, "same")
    again = _redeem(db, customer, reward, "same")
    assert again.replayed and (again.id, again.balance) == (first.id, 900)
    assert rewards.get_reward(db, reward).stock == 4
    assert ledger.balance(db, customer) == 900
    other = _reward(db, owner, name="other")
    with pytest.raises(IdempotencyConflict, match="used before for another request"):
        _redeem(db, customer, other, "same")
    with pytest.raises(IdempotencyConflict):
        _redeem(db, make_customer(db), reward, "same")


def test_a_replay_answers_even_when_the_stock_ran_out_since(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 1000)
    reward = _reward(db, owner, stock=1)
    first = _redeem(db, customer, reward, "only")
    assert _redeem(db, customer, reward, "only").id == first.id
    with pytest.raises(OutOfStock, match="out of stock"):
        _redeem(db, customer, reward, "next")


def test_insufficient_points_leave_stock_and_ledger_untouched(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 99)
    reward = _reward(db, owner, stock=4)
    with pytest.raises(InsufficientPoints, match="balance 99, asked 100"):
        _redeem(db, customer, reward, "poor")
    assert rewards.get_reward(db, reward).stock == 4
    assert ledger.balance(db, customer) == 99
    assert _rows(db, reward) == 0
    assert [e.kind for e in ledger.history(db, customer)] == [Kind.EARN]


def test_the_validity_window_and_the_active_flag_are_enforced(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 1000)
    window = _reward(db, owner, valid_from=date(2026, 6, 1), valid_until=date(2026, 6, 30))
    for day, key in ((date(2026, 5, 31), "early"), (date(2026, 7, 1), "late")):
        with pytest.raises(RewardNotAvailable):
            rewards.redeem_reward(db, customer, window, actor_id=None, idempotency_key=key,
                                  as_of=day)  # fmt: skip
    for day in (date(2026, 6, 1), date(2026, 6, 30)):
        rewards.redeem_reward(db, customer, window, actor_id=None, idempotency_key=str(day),
                              as_of=day)  # fmt: skip
    off = _reward(db, owner, name="off")
    rewards.deactivate_reward(db, owner, off)
    with pytest.raises(RewardNotAvailable, match="no longer offered"):
        _redeem(db, customer, off, "off")
    assert ledger.balance(db, customer) == 800


def test_the_per_customer_limit_counts_only_this_customer(
    db: Database, owner: StaffMember, customer: int
) -> None:
    other = make_customer(db)
    for c in (customer, other):
        _earn(db, c, 1000)
    reward = _reward(db, owner, per_customer_limit=2)
    _redeem(db, customer, reward, "1")
    _redeem(db, customer, reward, "2")
    with pytest.raises(LimitReached, match="2 per customer"):
        _redeem(db, customer, reward, "3")
    _redeem(db, other, reward, "4")
    assert ledger.balance(db, customer) == 800


def test_unknown_reward_or_customer(db: Database, owner: StaffMember, customer: int) -> None:
    with pytest.raises(NotFound):
        _redeem(db, customer, 999, "x")
    reward = _reward(db, owner)
    with pytest.raises(NotFound):
        _redeem(db, 999_999, reward, "y")


def test_a_redemption_commits_with_the_callers_session(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 500)
    reward = _reward(db, owner, stock=2)
    with pytest.raises(RuntimeError), db.write() as session:
        rewards.redeem_reward(session, customer, reward, actor_id=None, idempotency_key="s",
                              as_of=TODAY)  # fmt: skip
        raise RuntimeError("the caller's use case fails after the redemption")
    assert (rewards.get_reward(db, reward).stock, ledger.balance(db, customer)) == (2, 500)
    with db.write() as session:
        rewards.redeem_reward(session, customer, reward, actor_id=None, idempotency_key="s",
                              as_of=TODAY)  # fmt: skip
    assert (rewards.get_reward(db, reward).stock, ledger.balance(db, customer)) == (1, 400)


# -- cancelling ---------------------------------------------------------------------------------


def test_cancelling_puts_stock_and_points_back_once(
    db: Database, staff: dict[Role, StaffMember], owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 300)
    reward = _reward(db, owner, stock=1, per_customer_limit=1)
    done = _redeem(db, customer, reward, "c")
    with pytest.raises(NotAllowed):
        rewards.cancel_redemption(db, staff[Role.CLERK], done.id, reason="wrong")
    manager = staff[Role.MANAGER]
    undone = rewards.cancel_redemption(db, manager, done.id, reason="客户改主意")
    again = rewards.cancel_redemption(db, manager, done.id, reason="客户改主意")
    assert (undone.status, undone.replayed, again.replayed) == ("cancelled", False, True)
    assert again.refund_entry_id == undone.refund_entry_id is not None
    assert rewards.get_reward(db, reward).stock == 1
    assert ledger.balance(db, customer) == 300
    assert ledger.check_balances(db) == []
    with db.read() as s:
        back = s.get(PointsEntry, undone.refund_entry_id)
        assert back is not None and (back.kind, back.points) == ("earn", 100)
    entry = audit.list_entries(db, action=rewards.REDEMPTION_CANCELLED)
    assert len(entry) == 1 and entry[0].detail["points"] == 100
    assert _redeem(db, customer, reward, "after").status == "redeemed"  # limit freed again


# -- concurrency --------------------------------------------------------------------------------


def test_stock_10_redeemed_by_100_concurrent_customers(db: Database, owner: StaffMember) -> None:
    customers = [make_customer(db) for _ in range(100)]
    for c in customers:
        _earn(db, c, 150)
    reward = _reward(db, owner, stock=10)

    results = _in_threads(100, lambda i: _redeem(db, customers[i], reward, f"race-{i}"))
    done = [r for r in results if isinstance(r, Redemption)]
    refused = [r for r in results if isinstance(r, OutOfStock)]
    others = [r for r in results if not isinstance(r, Redemption | OutOfStock)]
    assert others == []
    assert (len(done), len(refused)) == (10, 90)
    assert rewards.get_reward(db, reward).stock == 0
    assert _rows(db, reward) == 10
    winners = {r.customer_id for r in done}
    assert len(winners) == 10
    for c in customers:
        assert ledger.balance(db, c) == (50 if c in winners else 150)
    with db.read() as s:
        debits = s.scalar(select(func.count()).where(PointsEntry.kind == "redeem"))
    assert debits == 10
    assert ledger.check_balances(db) == []


def test_a_limit_of_2_holds_against_20_concurrent_redemptions(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 10_000)
    reward = _reward(db, owner, per_customer_limit=2)

    results = _in_threads(20, lambda i: _redeem(db, customer, reward, f"mine-{i}"))
    done = [r for r in results if isinstance(r, Redemption)]
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert (len(done), len(refused)) == (2, 18), results
    assert ledger.balance(db, customer) == 9_800
    assert _rows(db, reward) == 2
    assert ledger.check_balances(db) == []


def test_one_key_raced_50_times_redeems_once(
    db: Database, owner: StaffMember, customer: int
) -> None:
    _earn(db, customer, 1000)
    reward = _reward(db, owner, stock=10)
    results = _in_threads(50, lambda _: _redeem(db, customer, reward, "one"))
    done = [r for r in results if isinstance(r, Redemption)]
    assert len(done) == 50, results
    assert sum(not r.replayed for r in done) == 1
    assert (rewards.get_reward(db, reward).stock, ledger.balance(db, customer)) == (9, 900)


def test_a_coupon_reward_hands_out_one_coupon_of_its_campaign(
    db: Database, owner: StaffMember
) -> None:
    with pytest.raises(InvalidInput, match="needs the coupon campaign"):
        rewards.create_reward(db, owner, RewardDraft("coupon", "券", 10))
    with pytest.raises(InvalidInput, match="does not exist"):
        rewards.create_reward(db, owner, RewardDraft("coupon", "券", 10, coupon_campaign_id=999))
    ticket = campaign(db, owner)
    reward = _reward(db, owner, kind="coupon", name="满100减20", points_cost=100,
                     coupon_campaign_id=ticket)  # fmt: skip
    customer = make_customer(db)
    _earn(db, customer, 300)
    first = _redeem(db, customer, reward, "k1")
    again = _redeem(db, customer, reward, "k1")
    assert first.coupon_code is not None and again.coupon_code == first.coupon_code
    held = coupons.customer_coupons(db, customer)
    assert [(c.campaign_id, c.code) for c in held] == [(ticket, first.coupon_code)]
    with db.write() as s:
        shop = Store(code="S1", name="旗舰店")
        s.add(shop)
        s.flush()
        store = shop.id
    basket = coupons.Basket(store, (coupons.Line(Decimal(120)),), customer)
    verdict = coupons.validate(db, first.coupon_code, basket)
    assert verdict.valid and verdict.discount == Decimal(20)
    assert ledger.balance(db, customer) == 200
