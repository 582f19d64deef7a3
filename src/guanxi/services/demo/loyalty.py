"""The demo shop's loyalty history: member tiers, referrals, rewards, coupons and stored value.

Runs after ``start_points_programme`` (which set the points programme 30 days before the end and
credited that window's purchases), through the loyalty services only, so every guard, lock and
ledger rule holds exactly as at a real counter:

1. **Referrals**: every advocate (a customer who referred someone) gets a referral code; each
   referred customer whose first purchase falls in the programme's window gets the outcome
   ``record_purchase`` would have decided (``reward_first_purchase``: the demo's purchases are
   bulk-inserted, so that hook never ran), oldest purchase first so the monthly cap counts right.
   Only customers with that one purchase so far: the hook's "first purchase" guard looks at every
   other purchase of the buyer, so a later one of the window would refuse it.
2. **Tiers** (普通会员 / 银卡 / 金卡 / 钻石卡): saved with the programme, then each customer who
   bought in the 12 months before the window is evaluated at their last purchase before it
   (their initial tier), each purchase of the window may upgrade, and the evaluation of the
   demo's last day applies the downgrades whose grace has run out.
3. **Rewards**, **coupons** and **stored value**: see ``guanxi.services.demo.offers``.

Deterministic: the customers, amounts and days are drawn from their own ``random.Random``
seeded from the demo's seed, over rows read in a fixed order, so two builds give the same
figures. Two things are not the same from one build to the next, by design of the services:
coupon and referral codes are drawn with ``secrets`` (unguessable), and the services stamp the
moment they post (ledger entries, redemptions, card entries, coupon uses) with the real clock;
only the tier changes (the purchase's time), coupon validation (``now=`` the purchase's time),
the rewards' business day (``as_of``) and the referral outcome's day follow the demo's calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from guanxi.loyalty import referrals, tiers
from guanxi.loyalty.accrual import Programme, programme, save_programme
from guanxi.loyalty.tiers import Tier
from guanxi.services.demo.context import ProgressFn
from guanxi.services.demo.loyalty_shop import Shop, open_shop
from guanxi.services.demo.offers import Offers, add_offers
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerTier,
    Purchase,
    ReferralReward,
    Store,
    TierChange,
)

DEMO_TIERS = (
    Tier("member", "普通会员", Decimal(0), benefits=("会员价购茶", "积分兑换礼品")),
    Tier("silver", "银卡", Decimal(2000), Decimal("1.2"), Decimal("0.02"),
         ("生日月双倍积分", "免费茶叶寄存")),
    Tier("gold", "金卡", Decimal(5000), Decimal("1.5"), Decimal("0.05"),
         ("每月一次免费品鉴", "免费礼盒包装"), event_access=True),
    Tier("diamond", "钻石卡", Decimal(12000), Decimal(2), Decimal("0.1"),
         ("专属茶艺师", "新茶优先预订", "茶室免费使用"), event_access=True, grace_days=90),
)  # fmt: skip
STAGES = 3


@dataclass(frozen=True)
class LoyaltyDemo:
    """What the loyalty history holds: counts for the CLI's summary and the tests."""

    tiers: dict[str, int]  # customers per tier name, lowest tier first
    tier_changes: int
    referral_codes: int
    referrals_rewarded: int
    referrals_refused: int
    offers: Offers

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        o = self.offers
        spread = " / ".join(f"{name} {n:,}" for name, n in self.tiers.items())
        return [
            ("Member tiers", f"{spread} ({self.tier_changes:,} changes)"),
            ("Referrals", f"{self.referral_codes:,} codes, {self.referrals_rewarded:,} "
                          f"rewarded, {self.referrals_refused:,} refused"),
            ("Rewards / redemptions", f"{o.rewards} / {o.redemptions:,}"),
            ("Coupons issued / redeemed", f"{o.coupons_issued:,} / {o.coupons_redeemed:,}"),
            ("Stored-value cards", f"{o.cards:,} ({o.card_spends:,} payments, "
                                   f"{o.card_refunds} refund)"),
        ]  # fmt: skip


def start_loyalty(
    db: Database, end: date, *, seed: int = 42, progress: ProgressFn | None = None
) -> LoyaltyDemo:
    """Give every loyalty feature of the demo shop its history (module docstring)."""
    report = progress or (lambda stage, done, total: None)
    shop = open_shop(db, end, seed)
    report("Loyalty history", 0, STAGES)
    codes, rewarded, refused = _referrals(shop)
    report("Loyalty history", 1, STAGES)
    spread, changes = _tiers(shop)
    report("Loyalty history", 2, STAGES)
    offers = add_offers(shop, _card_holders(shop))
    report("Loyalty history", STAGES, STAGES)
    return LoyaltyDemo(spread, changes, codes, rewarded, refused, offers)


# -- referrals ------------------------------------------------------------------------------------


def _referrals(shop: Shop) -> tuple[int, int, int]:
    """Codes for the advocates, outcomes for the window's first purchases of referred customers.
    Returns (codes, rewarded, refused)."""
    with shop.db.write() as session:
        advocates = [a for a in session.execute(
            select(Customer.referred_by_id).where(Customer.referred_by_id.is_not(None))
            .distinct().order_by(Customer.referred_by_id)
        ).scalars() if a is not None]  # fmt: skip
        for advocate in advocates:
            referrals.code_in(session, advocate)
        firsts = session.execute(
            select(func.min(Purchase.purchased_at), func.count(), Purchase.customer_id)
            .join(Customer, Customer.id == Purchase.customer_id)
            .where(Customer.referred_by_id.is_not(None))
            .group_by(Purchase.customer_id)
        ).all()  # fmt: skip
        # the hook would have run at the first purchase, before any other existed: with the
        # purchases all written, only a customer with just one can pass its "first" guard
        new = {c for at, n, c in firsts if n == 1 and shop.since <= at < shop.until}
        for sale in shop.sales:
            if sale.customer_id in new:
                new.discard(sale.customer_id)
                referrals.reward_first_purchase(session, sale.id)
        outcomes = dict(session.execute(
            select(ReferralReward.status, func.count()).group_by(ReferralReward.status)
        ).all())  # fmt: skip
    return len(advocates), outcomes.get("rewarded", 0), outcomes.get("refused", 0)


# -- tiers ----------------------------------------------------------------------------------------


def _tiers(shop: Shop) -> tuple[dict[str, int], int]:
    """Save the tiers with the programme, evaluate the customers of the last year, apply the
    downgrades due on the last day. Returns (customers per tier name, tier changes).

    A customer without a tier row holds the lowest tier, so only those whose gross spend can
    reach the next tier are evaluated (the evaluation itself nets the refunds): each at their
    last purchase before the window, then at each purchase of the window. That keeps the
    build fast: one evaluation costs a few milliseconds."""
    with shop.db.read() as session:
        current = programme(session)
    save_programme(shop.db, shop.owner,
                   Programme(current.rules, current.points_valid_months, DEMO_TIERS))  # fmt: skip
    floor = DEMO_TIERS[1].min_spend
    with shop.db.write() as session:
        zones: dict[int, str] = dict(session.execute(select(Store.id, Store.timezone)).all())
        zone = next(iter(zones.values()), tiers.DEFAULT_ZONE)
        before = session.execute(
            select(Purchase.customer_id, func.max(Purchase.purchased_at),
                   func.sum(Purchase.total_amount))
            .where(Purchase.purchased_at >= shop.since - timedelta(days=365),
                   Purchase.purchased_at < shop.since)
            .group_by(Purchase.customer_id).order_by(Purchase.customer_id)
        ).all()  # fmt: skip
        spent: dict[int, Decimal] = {}
        for customer, at, total in before:
            spent[customer] = Decimal(total)
            if spent[customer] >= floor:
                tiers.evaluate_on_purchase(session, customer, at, zone=zone, tiers=DEMO_TIERS)
        for sale in shop.sales:
            spent[sale.customer_id] = spent.get(sale.customer_id, Decimal(0)) + sale.total
            if spent[sale.customer_id] >= floor:
                tiers.evaluate_on_purchase(session, sale.customer_id, sale.at,
                                           zone=zones[sale.store_id], tiers=DEMO_TIERS)  # fmt: skip
    tiers.evaluate_downgrades(shop.db, shop.end)
    return _tier_spread(shop)


def _tier_spread(shop: Shop) -> tuple[dict[str, int], int]:
    """Customers per tier name (those without a row hold the lowest) and the changes."""
    with shop.db.read() as session:
        held: dict[str, int] = dict(session.execute(
            select(CustomerTier.tier_key, func.count()).group_by(CustomerTier.tier_key)
        ).all())  # fmt: skip
        changes = session.scalar(select(func.count()).select_from(TierChange)) or 0
    spread = {t.name: int(held.get(t.key, 0)) for t in DEMO_TIERS[1:]}
    lowest = shop.customers - sum(spread.values())
    return {DEMO_TIERS[0].name: lowest, **spread}, int(changes)


def _card_holders(shop: Shop) -> list[int]:
    """Customers who might buy a stored-value card: silver and above, in id order."""
    with shop.db.read() as session:
        return list(session.execute(
            select(CustomerTier.customer_id)
            .where(CustomerTier.tier_key != DEMO_TIERS[0].key)
            .order_by(CustomerTier.customer_id)
        ).scalars())  # fmt: skip
