"""The three bonds that hold a customer (Berry's levels of relationship marketing): financial,
social and structural, for one customer with the evidence, and per segment for the report.

* **financial**: the customer has something to lose by leaving: a tier above the lowest, a
  points balance above 0, stored value above 0, or an unused coupon (active, of an active
  campaign not yet over, uses left);
* **social**: the customer belongs: an active club membership, a club event attended (checked
  in) in the 12 months up to ``as_of``, or a customer they brought (referred) by ``as_of``;
* **structural**: the shop is woven into the customer's routine: an active service plan
  (专属服务), or a promise kept in the 12 months up to ``as_of``.

Balances, tiers and coupons are the current ones (they are caches without a history); the
windows are business dates in the shop's zone. Each bond is one set-based query (a union of
``SELECT customer_id``), so the report over 100,000 customers is one grouped query.

The report (``bonds_report``) places each customer on the ladder rung of their latest scores
(the latest scoring month on or before ``as_of``; "not scored" without one) and counts, per
rung and number of bonds (0–3), the customers and their **retention**: of the customers who
bought in the 12 months before the last 12 (``as_of`` − 24 months to − 12 months), the share
who bought again in the last 12 months. It shows association, not cause: buying also earns
points and tiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session

from guanxi.club.engagement import counted_check_in, counted_membership
from guanxi.domain.dates import add_months
from guanxi.domain.text import gettext_noop
from guanxi.loyalty.tiers import defined_tiers
from guanxi.storage.models import (
    Club,
    ClubEvent,
    ClubMember,
    Commitment,
    Coupon,
    CouponCampaign,
    Customer,
    CustomerScore,
    CustomerTier,
    EventRsvp,
    PointsBalance,
    Purchase,
    ServicePlan,
    StoredValueBalance,
)

DEFAULT_ZONE = "Asia/Shanghai"
WINDOW_MONTHS = 12
LEVELS = ("financial", "social", "structural")
LEVEL_LABELS = {
    "financial": gettext_noop("Financial"),
    "social": gettext_noop("Social"),
    "structural": gettext_noop("Structural"),
}
NOT_SCORED = "not_scored"
_CHUNK = 900


@dataclass(frozen=True)
class Evidence:
    """Why a bond holds: an English msgid with ``{placeholders}`` and its ``params``."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Bond:
    """One level of bond: whether it holds and the evidence."""

    level: str
    evidence: tuple[Evidence, ...]

    @property
    def holds(self) -> bool:
        return bool(self.evidence)


@dataclass(frozen=True)
class Bonds:
    """The three bonds of one customer as of a business date."""

    customer_id: int
    as_of: date
    financial: Bond
    social: Bond
    structural: Bond

    @property
    def levels(self) -> tuple[Bond, Bond, Bond]:
        return (self.financial, self.social, self.structural)

    @property
    def count(self) -> int:
        return sum(1 for b in self.levels if b.holds)


@dataclass(frozen=True)
class Window:
    """The instants of the 12 months up to ``as_of`` (inclusive) and the 12 before them."""

    as_of: date
    end: datetime  # the start of the day after ``as_of``
    start: datetime  # 12 months before ``end``
    prior: datetime  # 24 months before ``end``
    zone: str = DEFAULT_ZONE

    @property
    def start_day(self) -> date:
        return add_months(self.as_of + timedelta(days=1), -WINDOW_MONTHS)


def window(as_of: date, zone: str = DEFAULT_ZONE) -> Window:
    tz = ZoneInfo(zone)
    after = as_of + timedelta(days=1)

    def at(day: date) -> datetime:
        return datetime.combine(day, time(), tz).astimezone(UTC)

    return Window(as_of, at(after), at(add_months(after, -WINDOW_MONTHS)),
                  at(add_months(after, -2 * WINDOW_MONTHS)), zone)  # fmt: skip


# --- the bonds as sets of customers ----------------------------------------------------------


def _upper_tiers(session: Session) -> list[str]:
    return [t.key for t in defined_tiers(session)[1:]]


def financial_ids(session: Session, w: Window) -> Select[Any]:
    """Customers with a tier above the lowest, points, stored value or an unused coupon."""
    parts: list[Select[Any]] = [
        select(PointsBalance.customer_id).where(PointsBalance.points > 0),
        select(StoredValueBalance.customer_id).where(
            StoredValueBalance.paid + StoredValueBalance.bonus > 0
        ),
        select(Coupon.customer_id).where(Coupon.customer_id.is_not(None), *_usable_coupon(w)),
    ]
    upper = _upper_tiers(session)
    if upper:
        parts.append(select(CustomerTier.customer_id).where(CustomerTier.tier_key.in_(upper)))
    return union(*parts).subquery().select()


def _usable_coupon(w: Window) -> list[ColumnElement[bool]]:
    return [
        Coupon.status == "active",
        exists().where(
            CouponCampaign.id == Coupon.campaign_id,
            CouponCampaign.is_active.is_(True),
            or_(CouponCampaign.valid_until.is_(None), CouponCampaign.valid_until > w.end),
            or_(CouponCampaign.uses_per_code.is_(None), Coupon.uses < CouponCampaign.uses_per_code),
        ),
    ]


def social_ids(w: Window) -> Select[Any]:
    """Customers in a club, who attended an event in the window, or who referred someone."""
    return (
        union(
            select(ClubMember.customer_id)
            .join(Club, Club.id == ClubMember.club_id)
            .where(*counted_membership(w.end)),
            select(EventRsvp.customer_id)
            .join(ClubEvent, ClubEvent.id == EventRsvp.event_id)
            .where(*counted_check_in(w.start, w.end)),
            select(Customer.referred_by_id).where(
                Customer.referred_by_id.is_not(None), Customer.created_at < w.end
            ),
        )
        .subquery()
        .select()
    )


def structural_ids(w: Window) -> Select[Any]:
    """Customers with an active service plan, or a promise kept in the window."""
    return (
        union(
            select(ServicePlan.customer_id).where(
                ServicePlan.status == "active", ServicePlan.created_at < w.end
            ),
            select(Commitment.customer_id).where(
                Commitment.status == "kept",
                Commitment.fulfilled_on >= w.start_day,
                Commitment.fulfilled_on <= w.as_of,
            ),
        )
        .subquery()
        .select()
    )


def _count_expr(session: Session, w: Window) -> ColumnElement[int]:
    """0–3: how many bonds hold the ``Customer`` row (one IN (…) per bond)."""
    flags = [financial_ids(session, w), social_ids(w), structural_ids(w)]
    total: ColumnElement[int] = literal(0)
    for ids in flags:
        total = total + case((Customer.id.in_(ids), 1), else_=0)
    return total


def bonds_counts(
    session: Session, customer_ids: Iterable[int], as_of: date, *, zone: str = DEFAULT_ZONE
) -> dict[int, int]:
    """How many of the three bonds (0–3) hold each customer as of ``as_of``."""
    ids = sorted(set(customer_ids))
    w = window(as_of, zone)
    count = _count_expr(session, w)
    found: dict[int, int] = {}
    for n in range(0, len(ids), _CHUNK):
        chunk = ids[n : n + _CHUNK]
        stmt = select(Customer.id, count).where(Customer.id.in_(chunk))
        found.update({int(i): int(c) for i, c in session.execute(stmt)})
    return found


# --- one customer, with the evidence ---------------------------------------------------------


def customer_bonds(
    session: Session, customer_id: int, as_of: date, *, zone: str = DEFAULT_ZONE
) -> Bonds:
    """The customer's three bonds as of ``as_of``, each with its evidence."""
    w = window(as_of, zone)
    return Bonds(customer_id, as_of,
                 Bond("financial", tuple(_financial(session, customer_id, w))),
                 Bond("social", tuple(_social(session, customer_id, w))),
                 Bond("structural", tuple(_structural(session, customer_id, w))))  # fmt: skip


def _financial(session: Session, customer_id: int, w: Window) -> list[Evidence]:
    found = []
    tiers = defined_tiers(session)
    held = session.get(CustomerTier, customer_id)
    if held is not None and held.tier_key in [t.key for t in tiers[1:]]:
        name = next(t.name for t in tiers if t.key == held.tier_key)
        found.append(Evidence(gettext_noop("Tier {tier} since {date}"),
                              {"tier": name, "date": held.since}))  # fmt: skip
    points = session.get(PointsBalance, customer_id)
    if points is not None and points.points > 0:
        found.append(Evidence(gettext_noop("Points to spend: {points}"), {"points": points.points}))
    card = session.get(StoredValueBalance, customer_id)
    if card is not None and card.paid + card.bonus > 0:
        amount = Decimal(card.paid + card.bonus)
        found.append(Evidence(gettext_noop("Stored value: {amount}"), {"amount": amount}))
    coupons = session.execute(
        select(func.count()).select_from(Coupon)
        .where(Coupon.customer_id == customer_id, *_usable_coupon(w))
    ).scalar_one()  # fmt: skip
    if coupons:
        found.append(Evidence(gettext_noop("Unused coupons: {count}"), {"count": int(coupons)}))
    return found


def _social(session: Session, customer_id: int, w: Window) -> list[Evidence]:
    found = []
    for name, joined in session.execute(
        select(Club.name, ClubMember.joined_at)
        .join(Club, Club.id == ClubMember.club_id)
        .where(ClubMember.customer_id == customer_id, *counted_membership(w.end))
        .order_by(ClubMember.joined_at)
    ):  # fmt: skip
        found.append(Evidence(gettext_noop("Member of {club} since {date}"),
                              {"club": name, "date": _day(joined, w.zone)}))  # fmt: skip
    attended = session.execute(
        select(ClubEvent.name, EventRsvp.checked_in_at)
        .join(ClubEvent, ClubEvent.id == EventRsvp.event_id)
        .where(EventRsvp.customer_id == customer_id, *counted_check_in(w.start, w.end))
        .order_by(EventRsvp.checked_in_at.desc())
    ).all()  # fmt: skip
    if attended:
        found.append(Evidence(gettext_noop("Events attended: {count}, the last {event} on {date}"),
                              {"count": len(attended), "event": attended[0][0],
                               "date": _day(attended[0][1], w.zone)}))  # fmt: skip
    referred = session.execute(
        select(func.count()).where(Customer.referred_by_id == customer_id,
                                   Customer.created_at < w.end)
    ).scalar_one()  # fmt: skip
    if referred:
        found.append(Evidence(gettext_noop("Customers brought: {count}"), {"count": int(referred)}))
    return found


def _structural(session: Session, customer_id: int, w: Window) -> list[Evidence]:
    found = []
    for name, created in session.execute(
        select(ServicePlan.name, ServicePlan.created_at)
        .where(ServicePlan.customer_id == customer_id, ServicePlan.status == "active",
               ServicePlan.created_at < w.end)
        .order_by(ServicePlan.created_at)
    ):  # fmt: skip
        found.append(Evidence(gettext_noop("Service plan {plan} since {date}"),
                              {"plan": name, "date": _day(created, w.zone)}))  # fmt: skip
    kept = session.execute(
        select(func.count(), func.max(Commitment.fulfilled_on))
        .where(Commitment.customer_id == customer_id, Commitment.status == "kept",
               Commitment.fulfilled_on >= w.start_day, Commitment.fulfilled_on <= w.as_of)
    ).one()  # fmt: skip
    if kept[0]:
        found.append(Evidence(gettext_noop("Promises kept: {count}, the last on {date}"),
                              {"count": int(kept[0]), "date": kept[1]}))  # fmt: skip
    return found


def _day(at: datetime | None, zone: str) -> date | None:
    """The business date of an instant (stored instants are UTC)."""
    if at is None:
        return None
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).date()


# --- the report ------------------------------------------------------------------------------


@dataclass
class BondCell:
    """The customers of one rung holding ``bonds`` bonds, and their retention."""

    bonds: int
    customers: int = 0
    base: int = 0  # bought in the 12 months before the last 12
    retained: int = 0  # of those, bought again in the last 12 months

    @property
    def retention(self) -> float | None:
        return self.retained / self.base if self.base else None

    def add(self, other: BondCell) -> None:
        self.customers += other.customers
        self.base += other.base
        self.retained += other.retained


@dataclass
class BondsReport:
    """Customers and retention per rung and number of bonds; ``total`` sums the rungs."""

    as_of: date
    month: date | None  # the scoring month the rungs come from (None: nothing scored)
    rows: dict[str, list[BondCell]]
    total: list[BondCell]

    @property
    def customers(self) -> int:
        return sum(c.customers for c in self.total)


def bonds_report(
    session: Session,
    as_of: date,
    *,
    store_id: int | None = None,
    zone: str = DEFAULT_ZONE,
    rungs: Sequence[str] = (),
) -> BondsReport:
    """Customers (not erased; of ``store_id`` when given) by rung and number of bonds, with
    their retention: one grouped query."""
    w = window(as_of, zone)
    month = session.execute(
        select(func.max(CustomerScore.month)).where(CustomerScore.month <= as_of)
    ).scalar()
    base, again = _bought(w.prior, w.start), _bought(w.start, w.end)
    per_customer = (
        select(func.coalesce(CustomerScore.rung, NOT_SCORED).label("rung"),
               _count_expr(session, w).label("bonds"),
               case((base, 1), else_=0).label("base"),
               case((and_(base, again), 1), else_=0).label("kept"))
        .select_from(Customer)
        .outerjoin(CustomerScore, and_(CustomerScore.customer_id == Customer.id,
                                       CustomerScore.month == month))
        .where(Customer.erased_at.is_(None))
    )  # fmt: skip
    if store_id is not None:
        per_customer = per_customer.where(Customer.home_store_id == store_id)
    c = per_customer.subquery()
    stmt = select(c.c.rung, c.c.bonds, func.count(), func.sum(c.c.base), func.sum(c.c.kept)) \
        .group_by(c.c.rung, c.c.bonds)  # fmt: skip
    order = [*rungs, NOT_SCORED]
    rows: dict[str, list[BondCell]] = {}
    total = [BondCell(n) for n in range(4)]
    for key, n, customers, bought, kept in session.execute(stmt):
        cells = rows.setdefault(str(key), [BondCell(i) for i in range(4)])
        cell = BondCell(int(n), int(customers), int(bought or 0), int(kept or 0))
        cells[int(n)].add(cell)
        total[int(n)].add(cell)
    ordered = {k: rows[k] for k in sorted(rows, key=lambda k: (k not in order,
                                                                order.index(k) if k in order
                                                                else 0, k))}  # fmt: skip
    return BondsReport(as_of, month, ordered, total)


def _bought(start: datetime, end: datetime) -> ColumnElement[bool]:
    return exists().where(
        Purchase.customer_id == Customer.id,
        Purchase.purchased_at >= start,
        Purchase.purchased_at < end,
    )


# --- the customer page's panel ---------------------------------------------------------------


def evidence_text(e: Evidence, language: Any) -> str:
    """The evidence in ``language`` (a ``guanxi.web.i18n.Language``), placeholders filled."""
    values = {}
    for key, value in e.params.items():
        if isinstance(value, date):
            values[key] = language.date(value)
        elif isinstance(value, Decimal):
            values[key] = language.money(value)
        else:
            values[key] = str(value)
    text: str = language.translations.gettext(e.text)
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):  # a translation that broke a placeholder
        return e.text.format(**values)


def bonds_section(
    session: Session, customer_id: int, as_of: date, *, zone: str = DEFAULT_ZONE
) -> dict[str, Any]:
    """What the customer page's bonds panel (``customers/_bonds.html``) shows."""
    return {
        "customer_id": customer_id,
        "bonds": customer_bonds(session, customer_id, as_of, zone=zone),
        "labels": LEVEL_LABELS,
        "text": evidence_text,
    }
