"""The audit log: append-only entries of who did what, never personal data in clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Staff


class Action:
    """The audited actions (stable strings, filterable in the log)."""

    SIGN_IN = "sign_in"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    PHONE_UNMASKED = "phone.unmasked"
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_UPDATED = "customer.updated"
    CONSENT_CHANGED = "consent.changed"
    CUSTOMER_EXPORTED = "customer.exported"
    CUSTOMER_ERASED = "customer.erased"
    IMPORT = "import"
    STAFF_ADDED = "staff.added"
    ROLE_CHANGED = "staff.role_changed"
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None,
    target_type: str | None = None,
    target_id: int | str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Append one entry in the caller's transaction (it commits or rolls back with the change)."""
    session.execute(insert(AuditEntry), {
        "at": datetime.now(UTC), "actor_staff_id": actor_id, "action": action,
        "target_type": target_type, "target_id": None if target_id is None else str(target_id),
        "detail": detail or {}, "ip": ip,
    })  # fmt: skip


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as shown to the owner."""

    id: int
    at: datetime
    actor: str | None
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any]
    ip: str | None


def list_entries(
    db: Database, *, action: str | None = None, actor_id: int | None = None, limit: int = 200
) -> list[AuditRow]:
    """Newest first, optionally only one action or one actor."""
    stmt = (
        select(AuditEntry, Staff.name)
        .outerjoin(Staff, Staff.id == AuditEntry.actor_staff_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_staff_id == actor_id)
    with db.read() as session:
        return [
            AuditRow(e.id, e.at, name, e.action, e.target_type, e.target_id, e.detail, e.ip)
            for e, name in session.execute(stmt)
        ]
