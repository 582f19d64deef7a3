"""One customer's member tier as pages show it: the tier held, its benefits, how far the next
tier is, and the history of changes (``guanxi.loyalty.tiers``).

The spend is counted up to now, in the time zone of the customer's home store (the shop's
default zone when they have none), as the purchase that would upgrade them would count it.
``tiers_by_customer`` gives many customers' tiers at once (the counter's search results).
With the points basis the progress (``TierProgress.amount``, ``to_next``, ``percent``) is in
points; the spend is still shown, and the history keeps the spend at each change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.loyalty.tiers import (
    DEFAULT_ZONE,
    Tier,
    TierProgress,
    defined_tiers,
    tier_progress,
)
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerTier, Store, TierChange

HISTORY_SIZE = 20


@dataclass(frozen=True)
class TierHistoryRow:
    """One change of tier, with the tiers' names as defined now (the key when removed)."""

    at: datetime
    reason: str  # initial / upgrade / downgrade
    from_name: str | None
    to_name: str
    spend: Decimal


@dataclass(frozen=True)
class TierSection:
    """The customer's tier, what it gives, the next tier and the history, newest first."""

    customer_id: int
    progress: TierProgress
    since: date | None  # the day the tier was reached; None: no row yet (the lowest tier)
    history: tuple[TierHistoryRow, ...]

    @property
    def tier(self) -> Tier:
        return self.progress.current

    @property
    def percent(self) -> int:
        """How much of the way from the current tier's threshold to the next one (0..100)."""
        nxt = self.progress.next
        if nxt is None:
            return 100
        span = nxt.min_spend - self.tier.min_spend
        if span <= 0:
            return 100
        done = (self.progress.amount - self.tier.min_spend) / span * 100
        return int(max(Decimal(0), min(Decimal(100), done)))


def customer_zone(session: Session, customer_id: int) -> str:
    """The time zone of the customer's home store, or the default zone."""
    zone = session.execute(
        select(Store.timezone)
        .join(Customer, Customer.home_store_id == Store.id)
        .where(Customer.id == customer_id)
    ).scalar()
    return str(zone) if zone else DEFAULT_ZONE


def tier_section(
    db: Database, customer_id: int, *, now: datetime | None = None
) -> TierSection | None:
    """The tier section of ``customer_id``'s page; None when the shop has no tiers."""
    now = now or datetime.now(UTC)
    with db.read() as session:
        zone = customer_zone(session, customer_id)
        progress = tier_progress(session, customer_id, now, zone=zone)
        if progress is None:
            return None
        since = session.execute(
            select(CustomerTier.since).where(CustomerTier.customer_id == customer_id)
        ).scalar()
        names = {t.key: t.name for t in defined_tiers(session)}
        changes = session.execute(
            select(TierChange)
            .where(TierChange.customer_id == customer_id)
            .order_by(TierChange.at.desc(), TierChange.id.desc())
            .limit(HISTORY_SIZE)
        ).scalars()
        history = tuple(
            TierHistoryRow(
                c.at,
                c.reason,
                None if c.from_tier is None else names.get(c.from_tier, c.from_tier),
                names.get(c.to_tier, c.to_tier),
                c.spend,
            )
            for c in changes
        )
    return TierSection(customer_id, progress, since, history)


def tiers_by_customer(db: Database, customer_ids: Iterable[int]) -> dict[int, Tier]:
    """The tier each customer holds now (the lowest for those without a row); {} when the
    shop has no tiers."""
    ids = list(customer_ids)
    with db.read() as session:
        tiers = defined_tiers(session)
        if not tiers or not ids:
            return {}
        found = session.execute(
            select(CustomerTier.customer_id, CustomerTier.tier_key).where(
                CustomerTier.customer_id.in_(ids)
            )
        )
        keys = {int(cid): str(key) for cid, key in found}
    by_key = {t.key: t for t in tiers}
    return {cid: by_key.get(keys.get(cid, ""), tiers[0]) for cid in ids}
