"""Reading the audit log a page at a time, newest first, for the owner's audit page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from guanxi.services.audit import Action, AuditRow
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Staff

PER_PAGE = 50


@dataclass(frozen=True)
class AuditPage:
    """One page of entries; ``older`` is the ``before_id`` of the next page (None: last page)."""

    rows: list[AuditRow]
    older: int | None


def audit_page(
    db: Database,
    *,
    action: str | None = None,
    actor_id: int | None = None,
    before_id: int | None = None,
    per_page: int = PER_PAGE,
) -> AuditPage:
    """Entries older than ``before_id`` (None: the newest), optionally one action or actor."""
    stmt = (
        select(AuditEntry, Staff.name)
        .outerjoin(Staff, Staff.id == AuditEntry.actor_staff_id)
        .order_by(AuditEntry.id.desc())
        .limit(per_page + 1)
    )
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_staff_id == actor_id)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    with db.read() as session:
        rows = [
            AuditRow(e.id, e.at, name, e.action, e.target_type, e.target_id, e.detail, e.ip)
            for e, name in session.execute(stmt)
        ]
    more = len(rows) > per_page
    return AuditPage(rows[:per_page], rows[per_page - 1].id if more else None)


def audit_actions() -> list[str]:
    """Every audited action, for the filter."""
    return sorted(v for k, v in vars(Action).items() if k.isupper() and isinstance(v, str))


def audit_actors(db: Database) -> list[tuple[int, str]]:
    """(id, name) of the staff members who appear in the log, by name, for the filter."""
    stmt = (
        select(Staff.id, Staff.name)
        .where(Staff.id.in_(select(AuditEntry.actor_staff_id).distinct()))
        .order_by(Staff.name, Staff.id)
    )
    with db.read() as session:
        return [(i, n) for i, n in session.execute(stmt)]
