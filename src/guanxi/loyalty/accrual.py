"""Points for a purchase: the shop's programme applied to one stored purchase, in its transaction.

``accrue_for_purchase`` is called by ``services.purchases.record_purchase`` inside the purchase's
own transaction, so a purchase and its points commit together or not at all. The ledger entry's
idempotency key is ``purchase:<id>``: a purchase earns once, whatever retries the POS makes.

With member tiers defined (``guanxi.loyalty.tiers``), the purchase's points use the tier the
customer holds when buying (its *key* is ``PurchaseFacts.tier``, so the rules' tier multipliers
match tier keys, and each tier's ``points_multiplier`` is one more tier multiplier); only after
the points are computed may the purchase upgrade the customer (``evaluate_on_purchase``). With
the spend basis that evaluation runs before the points are posted; with the points basis it runs
after, so that the purchase's own points count towards the tier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, String, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from guanxi.analytics.reasons import Reason
from guanxi.domain.dates import add_months
from guanxi.domain.staff import Role
from guanxi.errors import InvalidInput, NotAllowed
from guanxi.loyalty import ledger, tiers
from guanxi.loyalty.rules import (
    PURCHASE_BONUSES,
    Earned,
    EarningProgram,
    Line,
    PurchaseFacts,
    points_for,
)
from guanxi.loyalty.tiers import Tier
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    LoyaltyProgram,
    PointsEntry,
    Product,
    Purchase,
    PurchaseLine,
    Store,
)

DEFAULT_VALID_MONTHS = 24


@dataclass(frozen=True)
class Programme:
    """The rules and the validity of points, as the owner set them (defaults until then)."""

    rules: EarningProgram
    points_valid_months: int | None = DEFAULT_VALID_MONTHS
    # Member tiers, lowest first; () turns tiers off; None: none stored, or (to save_programme)
    # keep the stored tiers, so a form that edits only the rules leaves them alone.
    tiers: tuple[Tier, ...] | None = None


@dataclass(frozen=True)
class Accrued:
    """What a purchase earned: points, the balance after, the reasons, and whether this is the
    stored result of an earlier call."""

    points: int
    balance: int
    reasons: tuple[Reason, ...]
    expires_on: date | None
    replayed: bool


PROGRAMME_KEY = "guanxi.programme"


def programme(session: Session) -> Programme:
    """The shop's programme, read once per session (a purchase needs it for its points, its
    tier and its referral reward; ``save_programme`` commits in a session of its own)."""
    cached = session.info.get(PROGRAMME_KEY)
    if isinstance(cached, Programme):
        return cached
    row = session.execute(select(LoyaltyProgram).order_by(LoyaltyProgram.id).limit(1)).scalar()
    if row is None:
        prog = Programme(EarningProgram())
    else:
        prog = Programme(EarningProgram.from_json(row.rules), row.points_valid_months,
                         tiers.tiers_from_json(row.tiers) or None)  # fmt: skip
    session.info[PROGRAMME_KEY] = prog
    tiers.remember_tiers(session, prog.tiers or ())
    return prog


def save_programme(db: Database, actor: StaffMember, new: Programme) -> None:
    """Replace the programme (owner only); audited with before and after."""
    if actor.role is not Role.OWNER:
        raise NotAllowed("only the owner changes the points programme")
    if new.points_valid_months is not None and not 1 <= new.points_valid_months <= 120:
        raise InvalidInput("points_valid_months must be between 1 and 120, or empty for never")
    rules = new.rules.as_json()
    levels = None if new.tiers is None else tiers.tiers_as_json(tiers.validate_tiers(new.tiers))
    with db.write() as session:
        row = session.execute(select(LoyaltyProgram).limit(1)).scalar()
        before = None
        if row is None:
            row = LoyaltyProgram()
            session.add(row)
        else:
            before = {"rules": row.rules, "points_valid_months": row.points_valid_months,
                      "tiers": row.tiers}  # fmt: skip
        row.rules, row.points_valid_months = rules, new.points_valid_months
        if new.tiers is not None:
            row.tiers = levels or None
        after = {"rules": rules, "points_valid_months": new.points_valid_months,
                 "tiers": row.tiers}  # fmt: skip
        row.updated_by_staff_id = actor.id
        row.updated_at = datetime.now(UTC)
        detail = {"before": before, "after": after}
        audit.record(session, audit.Action.PROGRAMME_CHANGED, actor_id=actor.id,
                     target_type="loyalty_program", detail=detail)  # fmt: skip


def _facts(
    session: Session, purchase: Purchase, store: Store, rules: EarningProgram
) -> tuple[PurchaseFacts, date]:
    """What ``rules`` need to know about the purchase; the counts and the buyer's birthday are
    read only when a rule uses them (the default programme needs the lines only)."""
    zone = ZoneInfo(store.timezone)
    local_day = purchase.purchased_at.astimezone(zone).date()
    start = datetime.combine(local_day, time(), zone).astimezone(UTC)
    rows = session.execute(
        select(type_coerce(PurchaseLine.amount, BigInteger), Product.category)
        .join(Product, Product.id == PurchaseLine.product_id)
        .where(PurchaseLine.purchase_id == purchase.id)
        .order_by(PurchaseLine.line_no)
    ).all()
    number, earned_today = 1, 0  # what the rules assume when no rule asks
    if any(b.kind in PURCHASE_BONUSES for b in rules.bonuses):
        number = session.execute(
            select(func.count())
            .select_from(Purchase)
            .where(
                Purchase.customer_id == purchase.customer_id,
                Purchase.purchased_at <= purchase.purchased_at,
                Purchase.id <= purchase.id,
            )
        ).scalar_one()
    if rules.cap_per_day is not None:
        earned_today = session.execute(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.customer_id == purchase.customer_id,
                PointsEntry.kind == "earn",
                PointsEntry.source_type == "purchase",
                PointsEntry.at >= start,
                PointsEntry.at < start + timedelta(days=1),
            )
        ).scalar_one()
    birthday_month = False
    if any(m.kind == "birthday_month" for m in rules.multipliers):
        customer = session.get(Customer, purchase.customer_id)
        birthday_month = (
            customer is not None
            and customer.birthday_kind == "solar"
            and customer.birthday_month == local_day.month
        )
    facts = PurchaseFacts(
        lines=[Line(Decimal(fen) / 100, category) for fen, category in rows],
        purchased_on=local_day,
        store=store.code,
        is_birthday_month=bool(birthday_month),
        purchase_number=int(number),
        earned_today=int(earned_today),
    )
    return facts, local_day


def accrued_for_purchase(session: Session, purchase_id: int) -> Accrued | None:
    """What ``purchase_id`` earned when it was recorded (None: nothing)."""
    key = f"purchase:{purchase_id}"
    stored = session.execute(select(PointsEntry).where(PointsEntry.idempotency_key == key)).scalar()
    if stored is None:
        return None
    return Accrued(stored.points, stored.balance_after, _reasons(stored.explanation),
                   stored.expires_on, True)  # fmt: skip


def accrue_for_purchase(session: Session, purchase_id: int, *, new: bool = False) -> Accrued | None:
    """Credit the points ``purchase_id`` earns, once; None when it earns none. ``new``: the
    caller has just inserted the purchase, so it cannot have earned yet (the ledger's key
    still guards against a second credit)."""
    purchase = session.get(Purchase, purchase_id)
    if purchase is None:
        raise InvalidInput(f"purchase {purchase_id} does not exist")
    stored = None if new else accrued_for_purchase(session, purchase_id)
    if stored is not None:
        return stored
    store = session.get(Store, purchase.store_id)
    assert store is not None
    prog = programme(session)
    rules = prog.rules
    facts, day = _facts(session, purchase, store, rules)
    levels = prog.tiers or ()
    held = tiers.held_tier(session, purchase.customer_id, levels)
    if held is not None:  # the tier held when buying, before this purchase counts
        facts = replace(facts, tier=held.key)
        rules = tiers.with_tier_multipliers(rules, levels)
    earned: Earned = points_for(rules, facts)
    by_points = tiers.basis_of(levels) is tiers.Basis.POINTS
    if levels and not by_points:  # after the points: this purchase may lift the customer's tier
        _evaluate_tier(session, purchase, store, levels)
    accrued = _credit(session, purchase, store, prog, earned, day) if earned.points > 0 else None
    if levels and by_points:  # after posting them: the purchase's own points count
        _evaluate_tier(session, purchase, store, levels)
    return accrued


def _evaluate_tier(
    session: Session, purchase: Purchase, store: Store, levels: tuple[Tier, ...]
) -> None:
    tiers.evaluate_on_purchase(session, purchase.customer_id, purchase.purchased_at,
                               zone=store.timezone, tiers=levels)  # fmt: skip


def _credit(
    session: Session, purchase: Purchase, store: Store, prog: Programme, earned: Earned, day: date
) -> Accrued:
    """Post the points ``earned`` (more than 0) for ``purchase``."""
    key = f"purchase:{purchase.id}"
    expires = (
        None if prog.points_valid_months is None else add_months(day, prog.points_valid_months)
    )
    posting = ledger.earn(
        session, purchase.customer_id, earned.points, source_type="purchase",
        source_id=purchase.id, expires_on=expires,
        reason=f"purchase {store.code}/{purchase.external_order_id}",
        explanation={"steps": earned.explanation()}, idempotency_key=key,
    )  # fmt: skip
    return Accrued(earned.points, posting.balance, earned.reasons, expires, posting.replayed)


def _reasons(explanation: dict[str, Any]) -> tuple[Reason, ...]:
    steps = explanation.get("steps", []) if isinstance(explanation, dict) else []
    return tuple(Reason(s["template"], s.get("values", {})) for s in steps if "template" in s)


BACKFILL_BATCH = 500


@dataclass(frozen=True)
class Backfill:
    """What ``accrue_since`` did."""

    purchases: int  # purchases without points found
    credited: int  # of them, those that earned points
    points: int


def accrue_since(
    db: Database, since: datetime, progress: Callable[[str, int, int], None] | None = None
) -> Backfill:
    """Points for every purchase at or after ``since`` that has none yet (imports), oldest
    first, in transactions of 500; each purchase earns once, so running again adds nothing."""
    with db.read() as session:
        earned = select(PointsEntry.source_id).where(PointsEntry.source_type == "purchase")
        ids = list(session.execute(
            select(Purchase.id)
            .where(Purchase.purchased_at >= since, cast(Purchase.id, String).not_in(earned))
            .order_by(Purchase.purchased_at, Purchase.id)
        ).scalars())  # fmt: skip
    points = credited = 0
    for n in range(0, len(ids), BACKFILL_BATCH):
        with db.write() as session:
            for purchase_id in ids[n : n + BACKFILL_BATCH]:
                got = accrue_for_purchase(session, purchase_id)
                if got is not None and not got.replayed:
                    points += got.points
                    credited += 1
        if progress is not None:
            progress("Accruing points", min(n + BACKFILL_BATCH, len(ids)), len(ids))
    return Backfill(len(ids), credited, points)
