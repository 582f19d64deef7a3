"""What the demo's loyalty history works from: the staff who act, the programme's window, its
purchases, and one seeded random generator (separate from the build's, so the rows the build
drew are untouched)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from guanxi.domain.staff import Role
from guanxi.services.demo.points import PROGRAMME_DAYS
from guanxi.services.staff import StaffMember, list_staff
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, PointsBalance, Purchase

FULL_SIZE = 5000  # the default demo: the counts below are for a shop this size, scaled


@dataclass(frozen=True)
class Sale:
    """A purchase of the programme's window, as the loyalty steps need it."""

    id: int
    customer_id: int
    store_id: int
    total: Decimal
    at: datetime
    order_ref: str


@dataclass
class Shop:
    """The demo shop as the loyalty steps see it."""

    db: Database
    end: date
    since: datetime  # the programme's first instant (as ``start_points_programme`` set it)
    until: datetime  # the instant after the demo's last day
    rng: random.Random
    owner: StaffMember
    manager: StaffMember
    clerks: list[StaffMember]
    customers: int
    sales: list[Sale]  # the window's purchases, oldest first

    @property
    def first_day(self) -> date:
        """The programme's first business day."""
        return self.since.date()

    def scaled(self, full: int, least: int) -> int:
        """``full`` for the default 5,000 customers, in proportion for others; at least
        ``least``."""
        return max(least, round(full * self.customers / FULL_SIZE))

    def clerk(self) -> StaffMember:
        """A clerk at the counter, drawn."""
        return self.rng.choice(self.clerks)

    def points(self) -> dict[int, int]:
        """Every customer's positive points balance, by customer id."""
        with self.db.read() as session:
            rows = session.execute(
                select(PointsBalance.customer_id, PointsBalance.points)
                .where(PointsBalance.points > 0)
                .order_by(PointsBalance.customer_id)
            )
            return {int(c): int(p) for c, p in rows}


def open_shop(db: Database, end: date, seed: int) -> Shop:
    """The shop as of ``end``: its staff, its customer count and the window's purchases."""
    staff = list_staff(db)
    owner = next(m for m in staff if m.role is Role.OWNER)
    manager = next(m for m in staff if m.role is Role.MANAGER)
    clerks = [m for m in staff if m.role is Role.CLERK] or [manager]
    since = datetime.combine(end - timedelta(days=PROGRAMME_DAYS), time(), UTC)
    until = datetime.combine(end + timedelta(days=1), time(), UTC)
    with db.read() as session:
        customers = session.scalar(select(func.count()).select_from(Customer)) or 0
        rows = session.execute(
            select(Purchase.id, Purchase.customer_id, Purchase.store_id, Purchase.total_amount,
                   Purchase.purchased_at, Purchase.external_order_id)
            .where(Purchase.purchased_at >= since, Purchase.purchased_at < until)
            .order_by(Purchase.purchased_at, Purchase.id)
        ).all()  # fmt: skip
    sales = [Sale(r[0], r[1], r[2], Decimal(r[3]), r[4], str(r[5] or r[0])) for r in rows]
    rng = random.Random(f"guanxi-demo-loyalty:{seed}")
    return Shop(db, end, since, until, rng, owner, manager, clerks, customers, sales)
