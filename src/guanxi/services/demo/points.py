"""The demo shop's points programme: set by the owner 30 days before the end, with the points
its purchases since then earned (so the customer pages and the ledger have a history)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from guanxi.domain.staff import Role
from guanxi.loyalty.accrual import Backfill, Programme, accrue_since, save_programme
from guanxi.loyalty.rules import Bonus, EarningProgram, Multiplier
from guanxi.services.demo.context import ProgressFn
from guanxi.services.staff import list_staff
from guanxi.storage.db import Database

PROGRAMME_DAYS = 30
DEMO_PROGRAMME = EarningProgram(
    points_per_yuan=Decimal(1),
    multipliers=(
        Multiplier("category", Decimal(2), "茶具"),
        Multiplier("store", Decimal("1.2"), "SH02"),
        Multiplier("birthday_month", Decimal(2)),
    ),
    bonuses=(
        Bonus("first_purchase", 100),
        Bonus("every_nth", 200, every=10),
        Bonus("referral", 300),
    ),
    cap_per_day=20_000,
)


def start_points_programme(
    db: Database, end: date, *, progress: ProgressFn | None = None
) -> Backfill:
    """The owner sets the programme; purchases of the last 30 days earn their points."""
    owner = next(m for m in list_staff(db) if m.role is Role.OWNER)
    save_programme(db, owner, Programme(DEMO_PROGRAMME, points_valid_months=24))
    since = datetime.combine(end - timedelta(days=PROGRAMME_DAYS), time(), UTC)
    return accrue_since(db, since, progress)
