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
    ANNIVERSARY_ADDED = "anniversary.added"
    ANNIVERSARY_UPDATED = "anniversary.updated"
    ANNIVERSARY_DELETED = "anniversary.deleted"
    MEMBER_SINCE_CHANGED = "customer.member_since_changed"
    CUSTOMER_EXPORTED = "customer.exported"
    CUSTOMERS_EXPORTED = "customers.exported"  # the customer list as a file (counts only)
    CUSTOMER_ERASED = "customer.erased"
    IMPORT = "import"
    STAFF_ADDED = "staff.added"
    ROLE_CHANGED = "staff.role_changed"
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"
    SEGMENT_SAVED = "segment.saved"
    SEGMENT_DELETED = "segment.deleted"
    ANALYTICS_RUN = "analytics.run"
    POINTS_ADJUSTED = "points.adjusted"
    POINTS_WAIVED = "points.waived"
    PROGRAMME_CHANGED = "loyalty.programme_changed"
    REWARD_CREATED = "reward.created"
    REWARD_UPDATED = "reward.updated"
    REWARD_DEACTIVATED = "reward.deactivated"
    REWARD_REDEMPTION_CANCELLED = "reward.redemption_cancelled"
    COUPON_CAMPAIGN_SAVED = "coupon.campaign_saved"
    COUPONS_ISSUED = "coupon.issued"
    COUPON_POOL_GENERATED = "coupon.pool_generated"
    COUPON_CODES_EXPORTED = "coupon.codes_exported"
    STORED_VALUE_REFUNDED = "stored_value.refunded"
    STORED_VALUE_ADJUSTED = "stored_value.adjusted"
    STORED_VALUE_RULES_CHANGED = "stored_value.rules_changed"
    OCCASIONS_CHANGED = "care.occasions_changed"
    FOLLOWUP_PLAN_SAVED = "care.followup_plan_saved"
    TASK_OUTCOME_LOGGED = "care.task_outcome"
    COMMITMENT_SAVED = "care.commitment_saved"
    COMMITMENT_CLOSED = "care.commitment_closed"
    TEMPLATE_SAVED = "care.template_saved"
    TEMPLATES_INSTALLED = "care.templates_installed"
    CAMPAIGN_SAVED = "campaign.saved"
    CAMPAIGN_QUEUED = "campaign.queued"
    CAMPAIGN_CANCELLED = "campaign.cancelled"
    MESSAGES_EXPORTED = "messages.exported"  # an SMS CSV for a gateway: personal data leaves
    MESSAGE_RETRIED = "message.retried"
    OPT_OUT_REPLIES_RECORDED = "messages.opt_out_replies"  # 回复TD replies from a file
    COMPLAINT_OPENED = "complaint.opened"
    COMPLAINT_UPDATED = "complaint.updated"  # responded, assigned, note, status
    COMPLAINT_ESCALATED = "complaint.escalated"
    COMPLAINT_RESOLVED = "complaint.resolved"  # with the recovery (points, coupon …)
    LINKS_ISSUED = "links.issued"  # tokenised feedback / survey / RSVP links made
    SURVEY_SAVED = "survey.saved"
    SURVEY_SENT = "survey.sent"
    CLUB_SAVED = "club.saved"
    CLUB_MEMBERS_CHANGED = "club.members_changed"
    EVENT_SAVED = "event.saved"
    EVENT_CHECKED_IN = "event.checked_in"
    SERVICE_PLAN_SAVED = "service_plan.saved"


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


def list_entries(
    db: Database, *, action: str | None = None, actor_id: int | None = None, limit: int = 200
) -> list[AuditRow]:
    """The newest ``limit`` entries, optionally one action or one actor."""
    return audit_page(db, action=action, actor_id=actor_id, per_page=limit).rows


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
