"""One customer's points as their page shows them: balance, what expires next, the history.

Reads the points ledger (``guanxi.loyalty.ledger``) and adds what the page needs around it: the
names of the staff who made entries, which flagged claw-backs still owe points (the owner may
waive those), and where the next page of older entries starts. Adjusting and waiving go to
the ledger, which checks roles and audits; ``waive_clawback`` first checks that the claw-back
is this customer's, so a page can only waive what it shows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from guanxi.errors import NotFound
from guanxi.loyalty import ledger
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import PointsEntry, Staff

PAGE_SIZE = 20


@dataclass(frozen=True)
class HistoryRow:
    """One ledger entry, who made it, and (for a flagged claw-back) what it still owes."""

    entry: ledger.Entry
    actor: str | None
    outstanding: int = 0


@dataclass(frozen=True)
class PointsSection:
    """The customer's balance, next expiry, open claw-backs and one page of history."""

    customer_id: int
    balance: int
    next_expiry: date | None
    expiring: int  # points that expire on next_expiry
    owed: int  # points still owed by flagged claw-backs (0 when none)
    rows: tuple[HistoryRow, ...]
    before_id: int | None  # the page shown starts below this entry (None: the newest)
    older_than: int | None  # pass as before_id for the next, older page (None: no more)

    @property
    def negative(self) -> bool:
        return self.balance < 0


def points_section(
    db: Database, customer_id: int, *, before_id: int | None = None, limit: int = PAGE_SIZE
) -> PointsSection:
    """The points section of ``customer_id``'s page; ``before_id`` pages to older entries."""
    points = ledger.statement(db, customer_id, limit=limit + 1, before_id=before_id)
    lots = [lot for lot in points.lots if lot.expires_on is not None]
    next_expiry = lots[0].expires_on if lots else None
    expiring = sum(lot.remaining for lot in lots if lot.expires_on == next_expiry)
    page = points.history[:limit]
    more = len(points.history) > limit
    owing = points.owed
    names = _staff_names(db, {e.actor_staff_id for e in page if e.actor_staff_id is not None})
    rows = tuple(
        HistoryRow(
            e,
            names.get(e.actor_staff_id) if e.actor_staff_id is not None else None,
            owing.get(e.id, 0),
        )
        for e in page
    )
    return PointsSection(
        customer_id=customer_id,
        balance=points.balance,
        next_expiry=next_expiry,
        expiring=expiring,
        owed=sum(owing.values()),
        rows=rows,
        before_id=before_id,
        older_than=page[-1].id if more and page else None,
    )


def waive_clawback(
    db: Database, actor: StaffMember, customer_id: int, entry_id: int, reason: str | None
) -> ledger.Posting:
    """The owner forgives what ``entry_id``, a claw-back of this customer, still owes."""
    with db.read() as session:
        owner = session.execute(
            select(PointsEntry.customer_id).where(PointsEntry.id == entry_id)
        ).scalar_one_or_none()
    if owner != customer_id:
        raise NotFound(f"customer {customer_id} has no points entry {entry_id}")
    return ledger.waive(db, actor, entry_id, reason=(reason or "").strip() or None)


def new_form_key() -> str:
    """A fresh idempotency token for one adjust form, so a double submit adjusts once."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class AdjustDraft:
    """The adjust form as typed (strings), so a refused form comes back unchanged."""

    points: str = ""
    reason: str = ""
    key: str = field(default_factory=new_form_key)


def _staff_names(db: Database, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    with db.read() as session:
        found = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids)))
        return {int(i): str(n) for i, n in found}
