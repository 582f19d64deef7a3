"""The counter screen (收银台): find a customer fast, record a sale, show what it earned.

``find_for_counter`` searches as the customer list does (phone tail, name, pinyin, member code)
within the clerk's store, and adds each hit's tier and points balance; phones are always
masked, since the screen faces the shop floor.

``record_sale`` records a one-line purchase (receipt number, amount, optional category) through
``record_purchase``, so points accrue and the tier is evaluated in the purchase's transaction.
A purchase is unique per store and receipt number. The form carries the moment it was opened
(``at``), which is the sale's time, so a form sent twice is the same request and
``record_purchase`` replays the stored purchase and its points; the same receipt number sent
from another form (another time, amount or customer) is a Conflict.

The line's product is ``counter`` (or ``counter:<category>``, so category multipliers apply),
created on first use.

The counter also redeems rewards (``guanxi.loyalty.rewards``), checks and uses coupons
(``guanxi.loyalty.coupons``) on a one-line basket of the typed amount, and pays from or tops up
the stored-value card (``guanxi.loyalty.stored_value``); ``coupon_use`` and ``card_entry`` read
back what such an action did, for the page shown after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from guanxi.domain.access import mask_phone
from guanxi.loyalty import coupons
from guanxi.loyalty import stored_value as sv
from guanxi.loyalty.accrual import Accrued, accrued_for_purchase
from guanxi.services.customer_tiers import tiers_by_customer
from guanxi.services.customers import search_customers
from guanxi.services.purchases import (
    CustomerRef,
    LineInput,
    PurchaseInput,
    Recorded,
    record_purchase,
)
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Coupon,
    CouponCampaign,
    CouponRedemption,
    PointsBalance,
    PointsEntry,
    Product,
    Purchase,
    StoredValueEntry,
)

COUNTER_SKU = "counter"
SKU_LENGTH = 64


@dataclass(frozen=True)
class CounterHit:
    """One customer found at the counter: masked phone, tier name, points balance."""

    id: int
    name: str
    phone: str  # masked
    code: str | None
    tier: str | None  # None: the shop has no tiers
    balance: int
    matched: str


def find_for_counter(
    db: Database, query: str, *, store_id: int | None, limit: int = 20
) -> list[CounterHit]:
    """Customers matching ``query`` in the viewer's store (None: every store), best first."""
    hits = search_customers(db, query, limit=limit, store_id=store_id)
    ids = [h.id for h in hits]
    tiers = tiers_by_customer(db, ids)
    with db.read() as session:
        found = session.execute(
            select(PointsBalance.customer_id, PointsBalance.points).where(
                PointsBalance.customer_id.in_(ids)
            )
        )
        balances = {int(cid): int(points) for cid, points in found}
    return [
        CounterHit(
            h.id,
            h.name,
            mask_phone(h.phone),
            h.code,
            tiers[h.id].name if h.id in tiers else None,
            int(balances.get(h.id, 0)),
            h.matched,
        )  # fmt: skip
        for h in hits
    ]


def categories(db: Database) -> list[str]:
    """The product categories the shop uses, sorted (offered for a counter sale)."""
    with db.read() as session:
        found = session.execute(
            select(Product.category).where(Product.category.is_not(None)).distinct()
        ).scalars()
        return sorted(str(c) for c in found if c)


@dataclass(frozen=True)
class Sale:
    """A counter sale as the clerk typed it (checked)."""

    receipt: str
    amount: Decimal
    category: str | None = None
    at: datetime | None = None  # when the form was opened: the sale's time (None: now)

    @property
    def sku(self) -> str:
        return (f"{COUNTER_SKU}:{self.category}" if self.category else COUNTER_SKU)[:SKU_LENGTH]


def record_sale(
    db: Database,
    customer_id: int,
    sale: Sale,
    *,
    store_id: int,
    scope: int | None,
    now: datetime | None = None,
) -> Recorded:
    """Record ``sale`` for the customer in ``store_id`` (see the module docstring)."""
    at = sale.at or now or datetime.now(UTC)
    data = PurchaseInput(
        external_order_id=sale.receipt,
        customer=CustomerRef(id=customer_id),
        purchased_at=at,
        lines=(LineInput(sku=sale.sku, amount=sale.amount, category=sale.category,
                         name=f"Counter sale ({sale.category})" if sale.category else None),),
        store_id=store_id,
    )  # fmt: skip
    return record_purchase(db, data, store_scope=scope, now=now)


FORM_AGE = timedelta(days=1)  # a form older than this records the sale at "now"


def form_time(text: str, now: datetime | None = None) -> datetime | None:
    """The sale form's hidden ``at`` (when it was opened, ISO 8601 with offset) if it is a
    plausible sale time (the last day, not in the future); None: record it at "now"."""
    now = now or datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if at.tzinfo is None or not now - FORM_AGE <= at <= now:
        return None
    return at


def now_text() -> str:
    """This moment as the sale form carries it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SaleResult:
    """A recorded sale as the counter shows it afterwards."""

    purchase_id: int
    receipt: str
    amount: Decimal
    points: Accrued | None  # None: it earned nothing


def sale_result(db: Database, customer_id: int, purchase_id: int) -> SaleResult | None:
    """What ``purchase_id`` (the customer's) earned; None when it is not theirs."""
    with db.read() as session:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None or purchase.customer_id != customer_id:
            return None
        points = accrued_for_purchase(session, purchase_id)
        return SaleResult(purchase.id, purchase.external_order_id, purchase.total_amount, points)


@dataclass(frozen=True)
class Redeemed:
    """A redemption as the counter shows it afterwards."""

    entry_id: int
    points: int  # positive: the points taken off
    balance: int
    reason: str | None
    on: date


def redemption(db: Database, customer_id: int, entry_id: int) -> Redeemed | None:
    """The customer's redeem entry ``entry_id``; None when it is not theirs."""
    with db.read() as session:
        entry = session.get(PointsEntry, entry_id)
        if entry is None or entry.customer_id != customer_id or entry.kind != "redeem":
            return None
        return Redeemed(entry.id, -entry.points, entry.balance_after, entry.reason,
                        entry.at.date())  # fmt: skip


def coupon_basket(
    customer_id: int, store_id: int, amount: Decimal, category: str | None = None
) -> coupons.Basket:
    """The basket a counter coupon is checked against: one line of the typed amount."""
    return coupons.Basket(store_id, (coupons.Line(amount, category),), customer_id)


def usable_coupons(db: Database, customer_id: int) -> list[coupons.CouponView]:
    """The customer's own coupons that can be used now (not used up, withdrawn or expired)."""
    return [c for c in coupons.customer_coupons(db, customer_id) if c.state == "active"]


@dataclass(frozen=True)
class CouponUsed:
    """A coupon used at the counter, as shown afterwards."""

    id: int
    code: str
    campaign: str
    order_ref: str
    discount: Decimal


def coupon_use(db: Database, customer_id: int, redemption_id: int) -> CouponUsed | None:
    """The customer's coupon redemption ``redemption_id``; None when it is not theirs."""
    with db.read() as session:
        found = session.execute(
            select(CouponRedemption, Coupon.code, CouponCampaign.name)
            .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
            .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
            .where(CouponRedemption.id == redemption_id)
        ).first()  # fmt: skip
        if found is None or found[0].customer_id != customer_id:
            return None
        row, code, campaign = found
        return CouponUsed(row.id, coupons.group(code), str(campaign), row.order_ref, row.discount)


@dataclass(frozen=True)
class CardResult:
    """A stored-value top-up or spend made at the counter, as shown afterwards."""

    id: int
    kind: str  # top_up or spend
    paid: Decimal  # signed
    bonus: Decimal  # signed
    balance: sv.Balance  # after it
    reference: str | None

    @property
    def amount(self) -> Decimal:
        """What the entry moved, positive."""
        return abs(self.paid + self.bonus)


def card_entry(db: Database, customer_id: int, entry_id: int) -> CardResult | None:
    """The customer's top-up or spend ``entry_id``; None when it is not one of theirs."""
    with db.read() as session:
        e = session.get(StoredValueEntry, entry_id)
        if e is None or e.customer_id != customer_id or e.kind not in ("top_up", "spend"):
            return None
        return CardResult(e.id, e.kind, e.paid, e.bonus, sv.Balance(e.paid_after, e.bonus_after),
                          e.reference)  # fmt: skip
