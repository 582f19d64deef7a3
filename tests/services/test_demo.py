"""The demo shop: deterministic, believable, consistent, and usable afterwards on both databases."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from sqlalchemy import func, select

from guanxi.domain.customers import Birthday, CalendarKind, Channel
from guanxi.domain.names import name_keys
from guanxi.errors import Conflict, InvalidInput
from guanxi.loyalty import ledger, stored_value
from guanxi.loyalty.accrual import programme
from guanxi.services.demo import DEMO_END, DemoSummary, build_demo, start_points_programme
from guanxi.services.demo.loyalty import DEMO_TIERS, LoyaltyDemo, start_loyalty
from guanxi.services.demo.offers import CATALOG, POOL_SIZE
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Base,
    Consent,
    ConsentEvent,
    Coupon,
    CouponCampaign,
    CouponRedemption,
    Customer,
    CustomerTier,
    PointsBalance,
    PointsEntry,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
    ReferralCode,
    ReferralReward,
    ReturnLine,
    Reward,
    RewardRedemption,
    Staff,
    StoredValueEntry,
    TierChange,
)

SMALL = 400
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def demo(db: Database) -> tuple[Database, DemoSummary]:
    """The database with a small demo shop in it, and the build's summary."""
    return db, build_demo(db, customers=SMALL)


def digest(database: Database) -> str:
    """A hash of every row of every table (rows sorted, so collation does not matter)."""
    h = hashlib.sha256()
    with database.read() as session:
        for table in Base.metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in session.execute(select(table)))
            h.update(f"{table.name}:{len(rows)}\n".encode())
            for row in rows:
                h.update(row.encode())
    return h.hexdigest()


def count(database: Database, model: type[Base]) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_counts_are_in_the_expected_ranges(demo: tuple[Database, DemoSummary]) -> None:
    db, s = demo
    assert (s.stores, s.staff, s.customers) == (2, 7, SMALL)
    assert 55 <= s.products <= 70
    assert SMALL * 12 * 0.7 <= s.purchase_lines <= SMALL * 12 * 1.3
    assert SMALL * 3 <= s.purchases <= s.purchase_lines
    assert 0.005 * s.purchases <= s.returns <= 0.03 * s.purchases
    assert 0.08 <= s.referred_customers / SMALL <= 0.22
    assert 0.06 <= s.lunar_birthday_share <= 0.2
    assert 0.5 <= s.consent_share <= 0.95
    assert s.owner_name and s.revenue > 0 and s.refunds > 0
    assert s.first_purchase is not None and s.last_purchase is not None
    assert DEMO_END - timedelta(days=3 * 366) < s.first_purchase <= s.last_purchase <= DEMO_END
    assert count(db, Customer) == s.customers
    assert count(db, Purchase) == s.purchases
    assert count(db, PurchaseLine) == s.purchase_lines
    assert count(db, PurchaseReturn) == s.returns
    with db.read() as session:
        owners = session.scalars(select(Staff).where(Staff.role == "owner")).all()
        assert [o.name for o in owners] == [s.owner_name] and owners[0].store_id is None
        labels = [label for label, _ in s.rows()]
        assert "Customers" in labels and "Owner" in labels


def test_same_seed_gives_the_same_rows(db: Database, sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "second.db"
    shutil.copyfile(sqlite_template, path)
    other = Database(f"sqlite:///{path}")
    try:
        assert build_demo(db, customers=150, seed=7) == build_demo(other, customers=150, seed=7)
        assert digest(db) == digest(other)  # on PostgreSQL too: same rows as on SQLite
    finally:
        other.dispose()


def test_another_seed_gives_another_shop(sqlite_db: Database, tmp_path: Path) -> None:
    first = build_demo(sqlite_db, customers=100, seed=1)
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    other.migrate()
    try:
        assert build_demo(other, customers=100, seed=2) != first
    finally:
        other.dispose()


def test_totals_are_the_sum_of_their_lines(demo: tuple[Database, DemoSummary]) -> None:
    db, s = demo
    with db.read() as session:
        sums = dict(
            session.execute(
                select(PurchaseLine.purchase_id, func.sum(PurchaseLine.amount)).group_by(
                    PurchaseLine.purchase_id
                )
            ).all()
        )
        purchases = session.scalars(select(Purchase)).all()
        for p in purchases:
            assert sums[p.id] == p.total_amount  # summed in SQL, as integer fen
        for line in session.scalars(select(PurchaseLine)):
            assert line.amount == line.quantity * line.unit_price - line.discount
            assert 0 <= line.discount < line.quantity * line.unit_price
        refunds = sum(
            (r.refund_amount for r in session.scalars(select(PurchaseReturn))), Decimal(0)
        )
    assert s.revenue == sum((p.total_amount for p in purchases), Decimal(0)) - refunds


def test_receipts_look_like_a_real_pos(demo: tuple[Database, DemoSummary]) -> None:
    db, _ = demo
    with db.read() as session:
        purchases = session.scalars(select(Purchase).order_by(Purchase.id)).all()
        staff_store = dict(session.execute(select(Staff.id, Staff.store_id)).all())
    assert [p.purchased_at for p in purchases] == sorted(p.purchased_at for p in purchases)
    numbers = [(p.store_id, p.external_order_id) for p in purchases]
    assert len(set(numbers)) == len(numbers)
    for p in purchases:
        local = p.purchased_at.astimezone(SHANGHAI)
        code = "SH01" if p.store_id == 1 else "SH02"
        assert re.fullmatch(rf"{code}-{local:%Y%m%d}-\d{{4}}", p.external_order_id)
        assert 10 <= local.hour < 21
        assert staff_store[p.staff_id] == p.store_id
    promotions = sum(p.is_promotion for p in purchases)
    assert 0.03 * len(purchases) < promotions < 0.4 * len(purchases)
    assert len({p.payment_method for p in purchases}) >= 5


def test_referral_chains_point_to_earlier_customers(demo: tuple[Database, DemoSummary]) -> None:
    db, s = demo
    with db.read() as session:
        customers = {c.id: c for c in session.scalars(select(Customer))}
    referred = [c for c in customers.values() if c.referred_by_id is not None]
    assert len(referred) == s.referred_customers > 0
    depths = []
    for c in customers.values():
        assert (c.source == "referral") == (c.referred_by_id is not None)
        depth, at = 0, c
        while at.referred_by_id is not None:
            referrer = customers[at.referred_by_id]
            assert referrer.id < at.id and referrer.created_at < at.created_at
            depth, at = depth + 1, referrer
        depths.append(depth)
    assert 2 <= max(depths) <= 4
    assert {c.source for c in customers.values()} >= {"walk_in", "referral", "online", "event"}


def test_birthdays_are_valid_and_some_lunar_in_leap_months(
    demo: tuple[Database, DemoSummary],
) -> None:
    db, s = demo
    with db.read() as session:
        customers = session.scalars(select(Customer)).all()
    known = [c for c in customers if c.birthday_month is not None]
    assert 0.7 <= len(known) / len(customers) <= 0.9
    for c in known:
        assert c.birthday_day is not None
        Birthday(  # raises InvalidInput for an impossible date
            c.birthday_month,
            c.birthday_day,
            CalendarKind(c.birthday_kind),
            c.birthday_year,
            c.birthday_is_leap_month,
        )
    lunar = [c for c in known if c.birthday_kind == "lunar"]
    assert len(lunar) / len(customers) == pytest.approx(s.lunar_birthday_share)
    assert any(c.birthday_is_leap_month for c in lunar)
    assert not any(c.birthday_is_leap_month for c in known if c.birthday_kind == "solar")
    assert all(c.birthday_kind == "solar" for c in customers if c.birthday_month is None)


def test_consents_match_their_history(demo: tuple[Database, DemoSummary]) -> None:
    db, s = demo
    with db.read() as session:
        consents = session.scalars(select(Consent)).all()
        events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        created = dict(session.execute(select(Customer.id, Customer.created_at)).all())
    latest = {(e.customer_id, e.channel): e for e in sorted(events, key=lambda e: e.at)}
    assert len(latest) == len(consents) < len(events)  # a few were withdrawn later
    for c in consents:
        e = latest[c.customer_id, c.channel]
        assert (c.is_granted, c.changed_at, c.source) == (e.is_granted, e.at, e.source)
        assert c.source.startswith("demo: ") and c.changed_at >= created[c.customer_id]
    for channel in Channel:
        granted = {c.is_granted for c in consents if c.channel == channel.value}
        assert granted == {True, False}, channel
    consenting = {c.customer_id for c in consents if c.is_granted}
    assert len(consenting) / s.customers == pytest.approx(s.consent_share)


def test_contacts_are_unique_and_well_formed(demo: tuple[Database, DemoSummary]) -> None:
    db, _ = demo
    with db.read() as session:
        customers = session.scalars(select(Customer)).all()
    phones = [c.phone for c in customers]
    assert len(set(phones)) == len(phones)
    for c in customers:
        assert c.phone is not None and re.fullmatch(r"\+861[3-9]\d{9}", c.phone)
        assert phonenumbers.is_valid_number(phonenumbers.parse(c.phone))
        assert c.phone_last4 == c.phone[-4:]
        assert (c.name_pinyin, c.name_initials) == name_keys(c.name)
        assert c.email is None or c.email == c.email.lower()
        assert c.owner_staff_id is None or c.home_store_id is not None
    emails = [c.email for c in customers if c.email]
    assert len(set(emails)) == len(emails) and 0.3 < len(emails) / len(customers) < 0.5
    assert 0.5 < sum(c.wechat_id is not None for c in customers) / len(customers) < 0.7
    assert 0.35 < sum(c.communication_style is not None for c in customers) / len(customers) < 0.65


def test_returns_refund_what_came_back(demo: tuple[Database, DemoSummary]) -> None:
    db, _ = demo
    with db.read() as session:
        returns = session.scalars(select(PurchaseReturn)).all()
        lines = {line.id: line for line in session.scalars(select(PurchaseLine))}
        bought = dict(session.execute(select(Purchase.id, Purchase.purchased_at)).all())
        by_return: dict[int, list[ReturnLine]] = {}
        for rl in session.scalars(select(ReturnLine)):
            by_return.setdefault(rl.return_id, []).append(rl)
    for r in returns:
        back = by_return[r.id]
        assert r.refund_amount == sum((rl.amount for rl in back), Decimal(0))
        assert r.returned_at > bought[r.purchase_id]
        for rl in back:
            line = lines[rl.purchase_line_id]
            assert line.purchase_id == r.purchase_id and 0 < rl.quantity <= line.quantity
            assert rl.amount <= line.amount


def test_ids_continue_after_the_demo(demo: tuple[Database, DemoSummary]) -> None:
    db, s = demo
    with db.write() as session:
        customer = Customer(name="新客", name_pinyin="xinke", name_initials="xk")
        session.add(customer)
        session.flush()
        purchase = Purchase(
            store_id=1,
            external_order_id="SH01-AFTER-DEMO",
            customer_id=customer.id,
            purchased_at=datetime(2026, 11, 1, 3, tzinfo=UTC),
            total_amount=Decimal("68.00"),
            lines=[
                PurchaseLine(
                    line_no=1,
                    product_id=1,
                    quantity=Decimal(1),
                    unit_price=Decimal("68.00"),
                    amount=Decimal("68.00"),
                )
            ],
        )
        events = session.scalar(select(func.count()).select_from(ConsentEvent))
        event = ConsentEvent(
            customer_id=customer.id,
            channel="sms",
            is_granted=True,
            at=customer.created_at,
            source="test",
        )
        session.add_all([purchase, event])
        session.flush()
        assert customer.id == s.customers + 1
        assert purchase.id == s.purchases + 1
        assert purchase.lines[0].id == s.purchase_lines + 1
        assert event.id == (events or 0) + 1


def test_a_database_with_customers_is_refused(demo: tuple[Database, DemoSummary]) -> None:
    db, s = demo
    before = digest(db)
    with pytest.raises(Conflict, match="already holds 400 customers"):
        build_demo(db, customers=10)
    assert digest(db) == before


def test_a_size_below_one_is_refused(sqlite_db: Database) -> None:
    with pytest.raises(InvalidInput):
        build_demo(sqlite_db, customers=0)


def test_another_end_date_moves_the_history(sqlite_db: Database) -> None:
    s = build_demo(sqlite_db, customers=60, end=date(2024, 2, 29))
    assert s.last_purchase is not None and s.first_purchase is not None
    assert date(2021, 3, 1) <= s.first_purchase <= s.last_purchase <= date(2024, 2, 29)


def test_full_size_demo(sqlite_db: Database) -> None:
    started = time.perf_counter()
    s = build_demo(sqlite_db)
    elapsed = time.perf_counter() - started
    assert s.customers == 5000
    assert 51_000 <= s.purchase_lines <= 69_000  # 60,000 ± 15 %
    assert elapsed < 20, f"the default demo took {elapsed:.1f} s"
    with sqlite_db.read() as session:
        names = session.scalars(select(Customer.name)).all()
        feb29 = session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.birthday_kind == "solar", Customer.birthday_month == 2)
            .where(Customer.birthday_day == 29)
        )
        lunar30 = session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.birthday_kind == "lunar", Customer.birthday_day == 30)
        )
    surnames = {name[:2] for name in names} | {name[:1] for name in names}
    assert {"欧阳", "司马", "单", "曾", "解", "区"} <= surnames
    assert feb29 and lunar30


# -- the loyalty history ----------------------------------------------------------------------


@pytest.fixture
def loyal(db: Database) -> tuple[Database, LoyaltyDemo]:
    """A small demo shop with its points programme and its loyalty history."""
    build_demo(db, customers=SMALL)
    start_points_programme(db, DEMO_END)
    return db, start_loyalty(db, DEMO_END)


def grouped(database: Database, *columns: Any) -> dict[Any, Any]:
    """``SELECT first, aggregate ... GROUP BY first`` as a dict."""
    with database.read() as session:
        return dict(session.execute(select(*columns).group_by(columns[0])).all())


def test_tiers_are_held_across_several_levels(loyal: tuple[Database, LoyaltyDemo]) -> None:
    db, demo = loyal
    held = grouped(db, CustomerTier.tier_key, func.count())
    assert len([k for k, n in held.items() if n]) >= 3
    without = SMALL - sum(held.values())  # no tier row: the lowest tier
    assert demo.tiers == {
        t.name: held.get(t.key, 0) + (without if t is DEMO_TIERS[0] else 0) for t in DEMO_TIERS
    }
    assert all(demo.tiers.values()) and sum(demo.tiers.values()) == SMALL
    with db.read() as session:
        assert programme(session).tiers == DEMO_TIERS
        reasons = set(session.scalars(select(TierChange.reason)))
    assert {"initial", "upgrade"} <= reasons
    assert count(db, TierChange) == demo.tier_changes >= count(db, CustomerTier)


def test_rewards_were_redeemed_from_stock_with_points(
    loyal: tuple[Database, LoyaltyDemo],
) -> None:
    db, demo = loyal
    assert demo.offers.rewards == len(CATALOG) and demo.offers.redemptions >= 6
    assert count(db, RewardRedemption) == demo.offers.redemptions
    redeemed = grouped(db, RewardRedemption.reward_id, func.count())
    with db.read() as session:
        stock = dict(session.execute(select(Reward.name, Reward.stock)).all())
        ids = dict(session.execute(select(Reward.name, Reward.id)).all())
        spent = session.scalar(select(func.sum(RewardRedemption.points)))
        debits = session.scalar(
            select(func.sum(PointsEntry.points)).where(PointsEntry.source_id.like("reward:%"))
        )
        limited = session.execute(
            select(func.count()).select_from(RewardRedemption).join(Reward)
            .where(Reward.per_customer_limit.is_not(None))
            .group_by(RewardRedemption.customer_id)
        ).scalars().all()  # fmt: skip
    moved = [n for n, _, _, s, _ in CATALOG if s is not None and stock[n] < s]
    assert moved, "no stocked reward was redeemed"
    for name, _, _, initial, _ in CATALOG:
        if initial is not None:
            assert stock[name] == initial - redeemed.get(ids[name], 0)
    assert spent and debits == -spent
    assert all(n <= 1 for n in limited)


def test_coupons_were_issued_and_redeemed(loyal: tuple[Database, LoyaltyDemo]) -> None:
    db, demo = loyal
    assert count(db, CouponCampaign) == 3
    assert count(db, Coupon) >= demo.offers.coupons_issued >= POOL_SIZE
    assert count(db, CouponRedemption) == demo.offers.coupons_redeemed > 0
    with db.read() as session:
        uses = session.scalar(select(func.sum(Coupon.uses)))
        pool = session.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.customer_id.is_(None))
        )
        discounts = session.scalars(select(CouponRedemption.discount)).all()
    assert uses == demo.offers.coupons_redeemed and pool == POOL_SIZE
    assert all(d > 0 for d in discounts)


def test_stored_value_cards_hold_bonus_money(loyal: tuple[Database, LoyaltyDemo]) -> None:
    db, demo = loyal
    kinds = grouped(db, StoredValueEntry.kind, func.count())
    bonus = grouped(db, StoredValueEntry.kind, func.sum(StoredValueEntry.bonus))
    assert kinds["top_up"] == demo.offers.cards >= 5
    assert bonus["top_up"] > 0  # 充500送40 / 充1000送100
    assert kinds.get("spend", 0) == demo.offers.card_spends > 0
    assert kinds["refund"] == demo.offers.card_refunds == 1
    assert stored_value.check_balances(db) == []
    assert len(stored_value.rules(db)) == 2


def test_referred_customers_got_their_reward(loyal: tuple[Database, LoyaltyDemo]) -> None:
    db, demo = loyal
    assert demo.referrals_rewarded > 0
    outcomes = grouped(db, ReferralReward.status, func.count())
    assert outcomes.get("rewarded", 0) == demo.referrals_rewarded
    assert outcomes.get("refused", 0) == demo.referrals_refused
    with db.read() as session:
        referral_entries = session.scalar(
            select(func.count())
            .select_from(PointsEntry)
            .where(PointsEntry.source_type == "referral")
        )
        advocates = session.scalar(select(func.count(func.distinct(Customer.referred_by_id))))
    assert referral_entries == 2 * demo.referrals_rewarded
    assert count(db, ReferralCode) == demo.referral_codes == advocates
    assert ledger.check_balances(db) == []


def figures(database: Database) -> tuple[object, ...]:
    """What must not change between two builds: balances, tiers, redemptions, uses, cards."""
    return (
        grouped(database, PointsBalance.customer_id, func.sum(PointsBalance.points)),
        grouped(database, CustomerTier.customer_id, func.min(CustomerTier.tier_key)),
        grouped(database, RewardRedemption.customer_id, func.sum(RewardRedemption.points)),
        grouped(database, CouponRedemption.order_ref, func.sum(CouponRedemption.discount)),
        grouped(database, StoredValueEntry.customer_id, func.sum(StoredValueEntry.paid)),
        grouped(database, StoredValueEntry.customer_id, func.sum(StoredValueEntry.bonus)),
        grouped(database, ReferralReward.referred_id, func.min(ReferralReward.status)),
    )


def test_loyalty_history_is_the_same_twice(
    db: Database, sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "second.db"
    shutil.copyfile(sqlite_template, path)
    other = Database(f"sqlite:///{path}")
    try:
        runs = []
        for database in (db, other):
            build_demo(database, customers=200, seed=7)
            start_points_programme(database, DEMO_END)
            runs.append((start_loyalty(database, DEMO_END, seed=7), figures(database)))
        assert runs[0] == runs[1]
        assert runs[0][0].offers.redemptions > 0 and runs[0][1][3]
    finally:
        other.dispose()
