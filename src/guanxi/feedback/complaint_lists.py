"""Complaints as pages, commands and the customer page read them: lists with SLA states, one
complaint with its timeline, a customer's complaints.

Scope: a viewer limited to a store (managers, clerks) sees the complaints of that store only;
the owner (scope None) sees every store's, and those without a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, or_, select, true
from sqlalchemy.orm import Session, aliased

from guanxi.errors import InvalidInput, NotFound
from guanxi.feedback.complaints import (
    CATEGORIES,
    DEFAULT_POLICY,
    SEVERITIES,
    STATUSES,
    clocks,
    get_complaint,
)
from guanxi.feedback.sla import Clock, ClockState, SlaPolicy
from guanxi.storage.models import Complaint, ComplaintEvent, Customer, Staff, Store

LIST_LIMIT = 500


@dataclass(frozen=True)
class ComplaintRow:
    """One complaint in a list, with its clocks at the moment of the list."""

    id: int
    customer_id: int | None
    customer_name: str
    store_id: int | None
    store_name: str
    category: str
    severity: str
    channel: str
    status: str
    summary: str
    opened_at: datetime
    assignee_name: str | None
    escalated_at: datetime | None
    first: Clock
    resolution: Clock
    satisfaction: int | None

    @property
    def is_breached(self) -> bool:
        return ClockState.BREACHED in (self.first.state, self.resolution.state)

    @property
    def worst(self) -> ClockState:
        """The clock state to show first (breached > near > running > met)."""
        order = [ClockState.BREACHED, ClockState.NEAR, ClockState.RUNNING, ClockState.MET]
        return min((self.first.state, self.resolution.state), key=order.index)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "customer_id": self.customer_id, "store_id": self.store_id,
            "category": self.category, "severity": self.severity, "channel": self.channel,
            "status": self.status, "opened_at": self.opened_at.isoformat(),
            "first_response": {"due_at": self.first.due_at.isoformat(),
                               "state": self.first.state.value},
            "resolution": {"due_at": self.resolution.due_at.isoformat(),
                           "state": self.resolution.state.value},
            "escalated": self.escalated_at is not None, "satisfaction": self.satisfaction,
        }  # fmt: skip


@dataclass(frozen=True)
class EventRow:
    """One step on a complaint's timeline."""

    at: datetime
    kind: str
    actor_name: str | None
    note: str | None


@dataclass(frozen=True)
class Filters:
    """What a complaints list is limited to (empty: no limit)."""

    status: str = ""
    category: str = ""
    severity: str = ""
    breached: bool = False
    customer_id: int | None = None

    def check(self) -> None:
        for name, value, known in (("status", self.status, STATUSES + ("active",)),
                                   ("category", self.category, CATEGORIES),
                                   ("severity", self.severity, SEVERITIES)):  # fmt: skip
            if value and value not in known:
                raise InvalidInput(f"{name}: {value!r} is not one of {', '.join(known)}")


def in_scope(column: Any, scope: int | None) -> ColumnElement[bool]:
    """Complaints a viewer limited to ``scope`` may see."""
    return true() if scope is None else column == scope


def _query(scope: int | None, filters: Filters, now: datetime) -> Any:
    assignee = aliased(Staff)
    query = (
        select(
            Complaint, Customer.name, Customer.erased_at, Store.name, assignee.name, Store.timezone
        )
        .outerjoin(Customer, Customer.id == Complaint.customer_id)
        .outerjoin(Store, Store.id == Complaint.store_id)
        .outerjoin(assignee, assignee.id == Complaint.assignee_staff_id)
        .where(in_scope(Complaint.store_id, scope))
    )
    if filters.status == "active":
        query = query.where(Complaint.status.in_(("open", "in_progress")))
    elif filters.status:
        query = query.where(Complaint.status == filters.status)
    if filters.category:
        query = query.where(Complaint.category == filters.category)
    if filters.severity:
        query = query.where(Complaint.severity == filters.severity)
    if filters.customer_id is not None:
        query = query.where(Complaint.customer_id == filters.customer_id)
    if filters.breached:
        late_first = or_(
            and_(Complaint.first_response_at.is_(None), Complaint.first_response_due_at <= now),
            Complaint.first_response_at > Complaint.first_response_due_at,
        )
        late_resolution = or_(
            and_(Complaint.status.in_(("open", "in_progress")), Complaint.resolution_due_at <= now),
            and_(Complaint.status.in_(("resolved", "closed")),
                 Complaint.resolved_at > Complaint.resolution_due_at),
        )  # fmt: skip
        query = query.where(or_(late_first, late_resolution))
    return query


def list_complaints(
    session: Session,
    *,
    scope: int | None,
    filters: Filters,
    now: datetime,
    policy: SlaPolicy,
    limit: int = LIST_LIMIT,
) -> list[ComplaintRow]:
    """The complaints in view, open ones first by their resolution deadline, then the rest
    newest first; at most ``limit``."""
    filters.check()
    active = Complaint.status.in_(("open", "in_progress"))
    query = _query(scope, filters, now).order_by(
        case((active, 0), else_=1),
        case((active, Complaint.resolution_due_at), else_=None),
        Complaint.opened_at.desc(), Complaint.id.desc(),
    ).limit(limit)  # fmt: skip
    return [_row(r, now, policy) for r in session.execute(query)]


def _row(found: Any, now: datetime, policy: SlaPolicy) -> ComplaintRow:
    c, name, erased, store, assignee, zone = found
    first, resolution = clocks(c, now=now, policy=policy, zone=zone or policy.timezone)
    return ComplaintRow(
        c.id, c.customer_id, "" if erased else (name or ""), c.store_id, store or "", c.category,
        c.severity, c.channel, c.status, c.summary, c.opened_at, assignee, c.escalated_at,
        first, resolution, c.satisfaction,
    )  # fmt: skip


def find_row(session: Session, complaint_id: int, *, scope: int | None, now: datetime,
             policy: SlaPolicy) -> ComplaintRow:  # fmt: skip
    """One complaint as a list shows it; NotFound outside the viewer's scope."""
    query = _query(scope, Filters(), now).where(Complaint.id == complaint_id)
    found = session.execute(query).one_or_none()
    if found is None:
        raise NotFound(f"complaint {complaint_id} does not exist: see the complaints list")
    return _row(found, now, policy)


def check_in_scope(session: Session, complaint_id: int, scope: int | None) -> Complaint:
    """The complaint when the viewer may see it, else NotFound (the same answer either way)."""
    row = get_complaint(session, complaint_id)
    if scope is not None and row.store_id != scope:
        raise NotFound(f"complaint {complaint_id} does not exist: see the complaints list")
    return row


def timeline(session: Session, complaint_id: int) -> list[EventRow]:
    """The complaint's events, oldest first."""
    rows = session.execute(
        select(ComplaintEvent.at, ComplaintEvent.kind, Staff.name, ComplaintEvent.note)
        .outerjoin(Staff, Staff.id == ComplaintEvent.actor_staff_id)
        .where(ComplaintEvent.complaint_id == complaint_id)
        .order_by(ComplaintEvent.at, ComplaintEvent.id)
    )  # fmt: skip
    return [EventRow(at, kind, actor, note) for at, kind, actor, note in rows]


def complaint_section(
    session: Session,
    customer_id: int,
    *,
    scope: int | None,
    now: datetime | None = None,
    policy: SlaPolicy | None = None,
) -> dict[str, Any]:
    """The context of the customer page's complaints partial (``customers/_complaints.html``,
    as ``complaints``): the customer's complaints in view, newest first, and how many are
    open."""
    rows = list_complaints(session, scope=scope, filters=Filters(customer_id=customer_id),
                           now=now or datetime.now(UTC), policy=policy or DEFAULT_POLICY,
                           limit=50)  # fmt: skip
    rows.sort(key=lambda r: r.opened_at, reverse=True)
    return {
        "rows": rows,
        "open": sum(r.status in ("open", "in_progress") for r in rows),
        "customer_id": customer_id,
    }


def staff_choices(session: Session, store_id: int | None) -> list[tuple[int, str]]:
    """Whom a complaint of ``store_id`` may be assigned to: the store's active staff, then the
    owners."""
    rows = session.execute(
        select(Staff.id, Staff.name)
        .where(Staff.is_active.is_(True),
               or_(Staff.role == "owner", Staff.store_id == store_id))
        .order_by(Staff.role == "owner", Staff.name, Staff.id)
    ).all()  # fmt: skip
    return [(int(i), str(n)) for i, n in rows]
